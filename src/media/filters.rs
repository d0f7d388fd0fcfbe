//! Builds the libavfilter graph description for the video path: one decode feeds every
//! rendition, the poster and the thumbnail sprite through a single `split`.

use std::fmt::Write;

#[derive(Debug, Clone)]
pub struct VideoGraphPlan {
    pub deinterlace: bool,
    /// Clockwise degrees: 0, 90, 180 or 270.
    pub rotation: u32,
    pub tonemap_hdr: bool,
    pub frame_rate: (i32, i32),
    pub renditions: Vec<(u32, u32)>,
    pub poster: Option<PosterPlan>,
    pub sprite: Option<SpritePlan>,
}

#[derive(Debug, Clone, Copy)]
pub struct PosterPlan {
    /// Index of the output frame (after the fps filter) that becomes the poster.
    pub frame_index: u64,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct SpritePlan {
    pub interval_secs: u32,
    pub thumb_width: u32,
    pub thumb_height: u32,
    pub columns: u32,
    pub rows: u32,
}

/// Shown on the asset when an HDR source could not be tone-mapped.
pub const NO_ZSCALE_WARNING: &str =
    "HDR source shown without tone-mapping: this FFmpeg has no zscale filter";

/// Whether to tone-map a source to SDR, and what to tell the operator when it needs it but
/// cannot be (the tone-map chain needs libavfilter's `zscale`, which not every FFmpeg has).
pub fn tone_map_plan(hdr: bool, has_zscale: bool) -> (bool, Option<&'static str>) {
    match (hdr, has_zscale) {
        (true, true) => (true, None),
        (true, false) => (false, Some(NO_ZSCALE_WARNING)),
        (false, _) => (false, None),
    }
}

pub const POSTER_LABEL: &str = "poster";
pub const SPRITE_LABEL: &str = "sprite";

pub fn rendition_label(i: usize) -> String {
    format!("out{i}")
}

/// The graph reads from a pad labelled `in` and writes to `out0..outN`, `poster`, `sprite`.
pub fn video_graph(plan: &VideoGraphPlan) -> String {
    let mut pre = Vec::new();
    if plan.deinterlace {
        pre.push("bwdif=mode=send_frame:deint=all".to_string());
    }
    match plan.rotation {
        90 => pre.push("transpose=clock".into()),
        180 => pre.push("hflip,vflip".into()),
        270 => pre.push("transpose=cclock".into()),
        _ => {}
    }
    if plan.tonemap_hdr {
        // PQ/HLG to SDR BT.709: linearise, tone-map in float RGB, back to limited-range YUV.
        pre.push(
            "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
                .into(),
        );
    }
    let (num, den) = plan.frame_rate;
    pre.push(format!("fps=fps={num}/{den}:start_time=0"));

    let mut branches: Vec<String> = plan
        .renditions
        .iter()
        .enumerate()
        .map(|(i, _)| format!("r{i}"))
        .collect();
    if plan.poster.is_some() {
        branches.push("p".into());
    }
    if plan.sprite.is_some() {
        branches.push("t".into());
    }

    let mut g = String::new();
    let _ = write!(g, "[in]{},split={}", pre.join(","), branches.len());
    for b in &branches {
        let _ = write!(g, "[{b}]");
    }
    for (i, (w, h)) in plan.renditions.iter().enumerate() {
        let _ = write!(
            g,
            ";[r{i}]scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p[{}]",
            rendition_label(i)
        );
    }
    if let Some(p) = plan.poster {
        let _ = write!(
            g,
            ";[p]select=eq(n\\,{}),scale={}:{}:flags=bicubic,setsar=1,format=yuvj420p[{POSTER_LABEL}]",
            p.frame_index, p.width, p.height
        );
    }
    if let Some(s) = plan.sprite {
        let _ = write!(
            g,
            ";[t]fps=fps=1/{}:start_time=0,scale={}:{}:flags=bicubic,setsar=1,tile={}x{},format=yuvj420p[{SPRITE_LABEL}]",
            s.interval_secs, s.thumb_width, s.thumb_height, s.columns, s.rows
        );
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdr_without_zscale_is_shown_as_is_with_a_warning() {
        assert_eq!(tone_map_plan(true, true), (true, None));
        assert_eq!(tone_map_plan(true, false), (false, Some(NO_ZSCALE_WARNING)));
        assert_eq!(tone_map_plan(false, false), (false, None));
        assert_eq!(tone_map_plan(false, true), (false, None));
    }

    #[test]
    fn rotated_interlaced_graph_has_every_branch() {
        let g = video_graph(&VideoGraphPlan {
            deinterlace: true,
            rotation: 90,
            tonemap_hdr: false,
            frame_rate: (30, 1),
            renditions: vec![(640, 360), (426, 240)],
            poster: Some(PosterPlan {
                frame_index: 30,
                width: 640,
                height: 360,
            }),
            sprite: Some(SpritePlan {
                interval_secs: 2,
                thumb_width: 160,
                thumb_height: 90,
                columns: 10,
                rows: 10,
            }),
        });
        assert!(g.starts_with("[in]bwdif=mode=send_frame:deint=all,transpose=clock,fps=fps=30/1"));
        assert!(g.contains("split=4[r0][r1][p][t]"));
        assert!(g.contains("[out1]") && g.contains("[poster]") && g.contains("[sprite]"));
    }
}
