//! HLS AES-128 for premium packages: every media segment encrypted whole with AES-128-CBC
//! (PKCS#7 padding) under one key per asset, each with its own IV named in an
//! `#EXT-X-KEY:METHOD=AES-128,URI="../key.bin",IV=0x…` line before it (RFC 8216 §4.3.2.4);
//! the init segment stays clear (its `EXT-X-MAP` comes before any key line). The key is
//! `key.bin` in the package root, which the origin hands only to a valid token.
//!
//! Crash-safe and repeatable: each rendition is written encrypted into a new folder
//! (`video_360p` → `evideo_360p`) next to the clear one, playlist last, so a folder with a
//! playlist is complete; the new master playlist waits as `master.m3u8.next` until the
//! caller has stored the new manifest, then `finish` swaps it in and removes the clear
//! folders. Running `prepare` again after a crash redoes only what was not finished.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

use super::spec::{PackageManifest, rendition_folder, segment_name};

type Encryptor = cbc::Encryptor<aes::Aes128>;

pub const KEY_NAME: &str = "key.bin";
const NEXT_MASTER_SUFFIX: &str = ".next";
/// Encrypted renditions live in their clear folder's name with this in front.
const FOLDER_PREFIX: &str = "e";

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The asset's key: the one already in the package, or a new one.
fn key_of(dir: &Path) -> io::Result<[u8; 16]> {
    let path = dir.join(KEY_NAME);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 16 => Ok(bytes.try_into().expect("16 bytes")),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "key.bin is not 16 bytes",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key: [u8; 16] = rand::random();
            write_atomically(&path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// A segment's IV: different for every segment of every rendition (so equal plaintext
/// blocks never show), and derived, so nothing but the playlist needs to keep it.
fn iv_for(key: &[u8; 16], folder: &str, segment: &str) -> [u8; 16] {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        &[
            b"marquee hls iv\0".as_slice(),
            key,
            folder.as_bytes(),
            b"/",
            segment.as_bytes(),
        ]
        .concat(),
    );
    digest.as_ref()[..16].try_into().expect("16 bytes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The encrypted folder of a clear rendition folder.
fn encrypted_folder(folder: &str) -> String {
    format!("{FOLDER_PREFIX}{folder}")
}

/// Encrypts one rendition into its new folder (skipped when that folder's playlist is
/// already there: it is written last).
fn encrypt_rendition(dir: &Path, folder: &str, segments: u32, key: &[u8; 16]) -> io::Result<()> {
    let out_folder = encrypted_folder(folder);
    let out = dir.join(&out_folder);
    let playlist = super::hls::PLAYLIST_NAME;
    if out.join(playlist).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&out)?;
    let clear = dir.join(folder);
    std::fs::copy(clear.join("init.mp4"), out.join("init.mp4"))?;
    for index in 0..segments {
        let name = segment_name(index);
        let plain = std::fs::read(clear.join(&name))?;
        let iv = iv_for(key, &out_folder, &name);
        let sealed = Encryptor::new(key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&plain);
        write_atomically(&out.join(&name), &sealed)?;
    }
    let text = std::fs::read_to_string(clear.join(playlist))?;
    let mut rewritten = String::with_capacity(text.len() * 2);
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#EXTINF:") {
            // The segment this EXTINF introduces is the next URI line.
            if let Some(uri) = lines[i + 1..]
                .iter()
                .find(|l| !l.starts_with('#') && !l.is_empty())
            {
                let iv = iv_for(key, &out_folder, uri.trim());
                let _ = writeln!(
                    rewritten,
                    "#EXT-X-KEY:METHOD=AES-128,URI=\"../{KEY_NAME}\",IV=0x{}",
                    hex(&iv)
                );
            }
        }
        rewritten.push_str(line);
        rewritten.push('\n');
    }
    write_atomically(&out.join(playlist), rewritten.as_bytes())
}

/// Writes the encrypted renditions, the key and the next master playlist; returns the
/// manifest that serves them. Nothing served changes until the caller stores that manifest
/// and calls [`finish`].
pub fn prepare(dir: &Path, manifest: &PackageManifest) -> io::Result<PackageManifest> {
    if manifest.encrypted {
        return Ok(manifest.clone());
    }
    let key = key_of(dir)?;
    let mut next = manifest.clone();
    let mut moves: Vec<(String, String)> = Vec::new();
    for (playlist, segments) in manifest.segmented() {
        let folder = rendition_folder(playlist).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{playlist} is in no folder"),
            )
        })?;
        encrypt_rendition(dir, folder, segments, &key)?;
        moves.push((folder.to_owned(), encrypted_folder(folder)));
    }
    let moved = |path: &str| -> String {
        match moves
            .iter()
            .find(|(from, _)| path.starts_with(&format!("{from}/")))
        {
            Some((from, to)) => format!("{to}{}", &path[from.len()..]),
            None => path.to_owned(),
        }
    };
    for v in &mut next.video {
        v.playlist = moved(&v.playlist);
    }
    for a in &mut next.audio {
        a.playlist = moved(&a.playlist);
    }
    next.files = manifest.files.iter().map(|f| moved(f)).collect();
    next.files.push(KEY_NAME.to_owned());
    next.files.sort();
    next.encrypted = true;
    // The master names rendition playlists by their folder.
    let master = std::fs::read_to_string(dir.join(&manifest.master))?;
    let mut rewritten = String::with_capacity(master.len() + 64);
    for line in master.lines() {
        let mut line = line.to_owned();
        for (from, to) in &moves {
            line = line.replace(&format!("{from}/"), &format!("{to}/"));
        }
        rewritten.push_str(&line);
        rewritten.push('\n');
    }
    let next_master = format!("{}{NEXT_MASTER_SUFFIX}", manifest.master);
    write_atomically(&dir.join(next_master), rewritten.as_bytes())?;
    super::contents::write_manifest(dir, &next)?;
    Ok(next)
}

/// After the encrypted manifest is stored: the new master takes over and the clear
/// renditions go. Safe to call again (after a crash, on every start).
pub fn finish(dir: &Path, encrypted: &PackageManifest) -> io::Result<()> {
    let next_master = dir.join(format!("{}{NEXT_MASTER_SUFFIX}", encrypted.master));
    if next_master.exists() {
        std::fs::rename(&next_master, dir.join(&encrypted.master))?;
    }
    for (playlist, _) in encrypted.segmented() {
        if let Some(clear) = rendition_folder(playlist).and_then(|f| f.strip_prefix(FOLDER_PREFIX))
        {
            match std::fs::remove_dir_all(dir.join(clear)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecryptMut;

    #[test]
    fn segments_decrypt_with_the_key_and_the_iv_their_playlist_names() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("video_360p")).unwrap();
        std::fs::write(dir.join("video_360p/init.mp4"), b"init").unwrap();
        let segments: Vec<Vec<u8>> = (0..3).map(|i| vec![i as u8; 1000 + i]).collect();
        for (i, s) in segments.iter().enumerate() {
            std::fs::write(dir.join("video_360p").join(segment_name(i as u32)), s).unwrap();
        }
        std::fs::write(
            dir.join("video_360p/index.m3u8"),
            "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg_00000.m4s\n#EXTINF:2.0,\nseg_00001.m4s\n#EXTINF:1.0,\nseg_00002.m4s\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("master.m3u8"),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo_360p/index.m3u8\n",
        )
        .unwrap();
        let manifest: PackageManifest = serde_json::from_value(serde_json::json!({
            "duration_secs": 5.0, "master": "master.m3u8",
            "video": [{"playlist": "video_360p/index.m3u8", "width": 640, "height": 360,
                       "frame_rate": 25.0, "bandwidth": 1, "average_bandwidth": 1, "codecs": "avc1", "segments": 3}],
            "audio": [], "subtitles": [], "poster": null, "thumbnails": null,
            "files": ["master.m3u8", "video_360p/index.m3u8", "video_360p/init.mp4"]
        }))
        .unwrap();

        let next = prepare(dir, &manifest).unwrap();
        // Nothing served changed yet: the clear master is still the master.
        assert!(
            std::fs::read_to_string(dir.join("master.m3u8"))
                .unwrap()
                .contains("video_360p/")
        );
        assert_eq!(
            prepare(dir, &manifest).unwrap(),
            next,
            "a second run gives the same"
        );
        finish(dir, &next).unwrap();
        finish(dir, &next).unwrap();
        assert!(!dir.join("video_360p").exists());
        assert!(
            std::fs::read_to_string(dir.join("master.m3u8"))
                .unwrap()
                .contains("evideo_360p/index.m3u8")
        );
        assert!(
            next.encrypted && next.serves("key.bin") && next.serves("evideo_360p/seg_00002.m4s")
        );
        assert!(!next.serves("video_360p/seg_00000.m4s"));

        let key: [u8; 16] = std::fs::read(dir.join("key.bin"))
            .unwrap()
            .try_into()
            .unwrap();
        let playlist = std::fs::read_to_string(dir.join("evideo_360p/index.m3u8")).unwrap();
        let ivs: Vec<&str> = playlist
            .lines()
            .filter_map(|l| l.split("IV=0x").nth(1))
            .collect();
        assert_eq!(ivs.len(), 3);
        assert!(
            playlist.find("#EXT-X-MAP").unwrap() < playlist.find("#EXT-X-KEY").unwrap(),
            "init stays clear"
        );
        for (i, iv) in ivs.iter().enumerate() {
            let iv: Vec<u8> = (0..16)
                .map(|b| u8::from_str_radix(&iv[2 * b..2 * b + 2], 16).unwrap())
                .collect();
            let sealed =
                std::fs::read(dir.join("evideo_360p").join(segment_name(i as u32))).unwrap();
            assert_ne!(sealed, segments[i]);
            let plain = cbc::Decryptor::<aes::Aes128>::new((&key).into(), iv.as_slice().into())
                .decrypt_padded_vec_mut::<Pkcs7>(&sealed)
                .unwrap();
            assert_eq!(plain, segments[i], "segment {i}");
        }
        assert_ne!(ivs[0], ivs[1], "every segment its own IV");
    }
}
