//! Plans the renditions for one source from the configured ladder. Pure arithmetic.

use crate::config::Rung;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRendition {
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
}

/// How far above the source's short side a rung may be and still be kept.
const RUNG_TOLERANCE: f64 = 1.02;

/// Rungs apply to the short side of the picture; a rung taller than the source is
/// skipped (never upscale). A source smaller than every rung gets one rendition at its
/// own size.
pub fn plan(display_width: u32, display_height: u32, ladder: &[Rung]) -> Vec<PlannedRendition> {
    let short = display_width.min(display_height).max(1);
    let mut rungs: Vec<Rung> = ladder.to_vec();
    rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
    rungs.dedup_by_key(|r| r.height);

    let scaled = |target_short: u32| {
        let factor = f64::from(target_short) / f64::from(short);
        (
            even(f64::from(display_width) * factor),
            even(f64::from(display_height) * factor),
        )
    };

    // A source a hair short of a rung (1078 lines for 1080p) still gets that rung, at its own size.
    let planned: Vec<PlannedRendition> = rungs
        .iter()
        .filter(|r| f64::from(r.height) <= f64::from(short) * RUNG_TOLERANCE)
        .map(|r| {
            let (width, height) = scaled(r.height.min(short));
            PlannedRendition {
                width,
                height,
                video_kbps: r.video_kbps,
            }
        })
        .collect();
    if !planned.is_empty() {
        return planned;
    }

    // Smaller than the smallest rung: keep its size, scale the bitrate by pixel count.
    let smallest = rungs.last().copied().unwrap_or(Rung {
        height: 240,
        video_kbps: 700,
    });
    let (width, height) = scaled(short);
    let ratio = f64::from(short) / f64::from(smallest.height);
    let kbps = (f64::from(smallest.video_kbps) * ratio * ratio).max(100.0) as u32;
    vec![PlannedRendition {
        width,
        height,
        video_kbps: kbps,
    }]
}

/// Nearest even number, at least 2: H.264 with 4:2:0 chroma needs even dimensions.
fn even(x: f64) -> u32 {
    let n = (x / 2.0).round() as u32 * 2;
    n.max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TranscodeConfig;

    fn ladder() -> Vec<Rung> {
        TranscodeConfig::default().ladder
    }

    #[test]
    fn never_upscales() {
        let p = plan(640, 360, &ladder());
        assert_eq!(
            p.iter().map(|r| (r.width, r.height)).collect::<Vec<_>>(),
            vec![(640, 360), (426, 240)]
        );
    }

    #[test]
    fn full_hd_gets_every_rung() {
        let p = plan(1920, 1080, &ladder());
        assert_eq!(p.len(), 5);
        assert_eq!((p[0].width, p[0].height), (1920, 1080));
        assert_eq!((p[4].width, p[4].height), (426, 240));
    }

    #[test]
    fn portrait_uses_short_side_and_odd_sizes_become_even() {
        let p = plan(719, 1281, &ladder());
        assert_eq!((p[0].width, p[0].height), (720, 1282));
        assert!(p.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn tiny_source_keeps_its_size() {
        let p = plan(160, 120, &ladder());
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].width, p[0].height), (160, 120));
        assert!(p[0].video_kbps >= 100);
    }

    #[test]
    fn default_ladder_steps_are_30_to_45_percent_apart() {
        let l = ladder();
        for pair in l.windows(2) {
            let drop = 1.0 - f64::from(pair[1].video_kbps) / f64::from(pair[0].video_kbps);
            assert!((0.30..=0.45).contains(&drop), "{pair:?}: {drop}");
        }
    }
}
