//! Video processing through the real pipeline (Kafka, SeaweedFS, PostgreSQL): renditions read back with the
//! ffprobe CLI, seeking by Range, a transcode longer than `max.poll.interval.ms`, limits, timeouts and damage.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::{repo_root, Pipeline};

/// Makes a test clip with the ffmpeg CLI (fast settings: the clip's content is what matters).
fn make_clip(dir: &Path, name: &str, size: &str, secs: u32) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
            "-t",
            &secs.to_string(),
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// `ffprobe` of a file: (codec, width, height) per stream and the container's duration.
fn ffprobe(path: &Path) -> (Vec<(String, u32, u32)>, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let streams = v["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or("").to_string(),
                s["width"].as_u64().unwrap_or(0) as u32,
                s["height"].as_u64().unwrap_or(0) as u32,
            )
        })
        .collect();
    (streams, v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(-1.0))
}

async fn download(key: &str, url: &str, to: &Path) -> reqwest::header::HeaderMap {
    let r = reqwest::Client::new().get(url).bearer_auth(key).send().await.expect("download");
    assert_eq!(r.status(), 200, "{url}");
    let headers = r.headers().clone();
    std::fs::write(to, r.bytes().await.expect("body")).expect("write download");
    headers
}

fn variant<'a>(item: &'a serde_json::Value, name: &str, format: &str) -> &'a serde_json::Value {
    item["variants"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name && v["format"] == format))
        .unwrap_or_else(|| panic!("no {name}.{format} in {item}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn renditions_read_back_with_ffprobe_and_seek_by_range() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("video");
    let fixtures = repo_root().join("fixtures/media");
    // (fixture, rendition name, format, expected streams)
    let cases = [
        ("clip.mp4", "720p", "mp4", vec![("h264", 640, 360), ("aac", 0, 0)]),
        ("rotated.mp4", "720p", "mp4", vec![("h264", 240, 320)]),
        ("clip.webm", "720p", "mp4", vec![("h264", 320, 180), ("aac", 0, 0)]),
        ("audio.mp3", "audio", "m4a", vec![("aac", 0, 0)]),
        ("animated.gif", "animation", "mp4", vec![("h264", 160, 90)]),
    ];
    let mut ids = vec![];
    for (f, ..) in &cases {
        let (status, body) = p.upload(&key, f).await;
        assert_eq!(status, 202, "{f}: {body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for ((f, name, format, want), id) in cases.iter().zip(&ids) {
        let item = p.settle_within(&key, id, Duration::from_secs(120)).await;
        assert_eq!(item["status"], "processed", "{f}: {item}\n{}", p.log("video"));
        let v = variant(&item, name, format);
        let local = p.dir.join(format!("{id}.{format}"));
        let headers = download(&key, v["url"].as_str().unwrap(), &local).await;
        assert_eq!(headers["content-type"], if *format == "mp4" { "video/mp4" } else { "audio/mp4" });
        let (streams, duration) = ffprobe(&local);
        let want: Vec<(String, u32, u32)> = want.iter().map(|(c, w, h)| (c.to_string(), *w, *h)).collect();
        assert_eq!(streams, want, "{f}");
        let (_, source_duration) = ffprobe(&fixtures.join(f));
        if !f.ends_with(".gif") {
            assert!((duration - source_duration).abs() <= 0.1, "{f}: {duration} s vs source {source_duration} s");
        }
    }

    // Audio: no made-up picture size, and the codec's name rather than FFmpeg's decoder's (`mp3float`).
    let audio = p.get(&key, &format!("/v1/media/{}", ids[3])).await.1;
    let v = variant(&audio, "audio", "m4a");
    assert!(v["width"].is_null() && v["height"].is_null(), "{v}");
    assert_eq!(audio["metadata"]["audio"]["codec"], "mp3", "{audio}");

    // Posters: upright, and past the black opening of fadein.mp4.
    let (_, body) = p.upload(&key, "fadein.mp4").await;
    let item = p.settle_within(&key, body["id"].as_str().unwrap(), Duration::from_secs(120)).await;
    let poster = p.dir.join("poster.jpg");
    download(&key, variant(&item, "poster", "jpeg")["url"].as_str().unwrap(), &poster).await;
    let img = image::open(&poster).expect("poster decodes").to_luma8();
    let mean = img.pixels().map(|p| p.0[0] as f64).sum::<f64>() / (img.width() * img.height()) as f64;
    assert!(mean > 60.0, "poster is black (mean luma {mean})");
    assert!(item["metadata"]["blurhash"].as_str().is_some_and(|b| !b.is_empty()), "{item}");
    assert_eq!(item["metadata"]["duration_secs"], 2.0);
    assert_eq!(item["metadata"]["video"]["codec"], "h264");

    let rotated = p.get(&key, &format!("/v1/media/{}", ids[1])).await.1;
    assert_eq!(rotated["metadata"]["video"]["rotation"], 270, "{rotated}");
    assert_eq!((rotated["width"].as_u64(), rotated["height"].as_u64()), (Some(240), Some(320)));

    // Players seek with Range requests.
    let url = variant(&p.get(&key, &format!("/v1/media/{}", ids[0])).await.1, "720p", "mp4")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&key)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.expect("range body").len(), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transcode_longer_than_max_poll_interval_completes_without_rebalance() {
    // A slow preset on a 10 s 720p clip takes well over the 6 s poll interval (the broker's smallest session).
    let p = Pipeline::start(&[
        ("MEDIAMILL_KAFKA__MAX_POLL_INTERVAL_MS", "6000"),
        ("MEDIAMILL_VIDEO__PRESET", "slower"),
        ("MEDIAMILL_VIDEO__PROGRESS_INTERVAL_SECS", "1"),
    ])
    .await;
    let key = p.key("long");
    let clip = make_clip(&p.dir, "long.mp4", "1280x720", 10);
    let (status, body) = p.upload_file(&key, &clip).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let item = p.settle_within(&key, &id, Duration::from_secs(300)).await;
    assert_eq!(item["status"], "processed", "{item}\n{}", p.log("video"));
    let took = item["metadata"]["processing_ms"].as_u64().unwrap();
    assert!(took > 6000, "the transcode took only {took} ms, shorter than the poll interval: the test proves nothing");

    let log = p.log("video");
    assert_eq!(log.matches("partitions assigned").count(), 1, "the worker was rebalanced:\n{log}");
    assert!(!log.contains("partitions revoked"), "{log}");

    // Progress: several `processing` events with a rising percent, then one `processed`.
    let events: Vec<serde_json::Value> = p
        .read_topic("media.events", 100, Duration::from_secs(10))
        .into_iter()
        .filter(|(k, ..)| k == &id)
        .map(|(_, _, body)| serde_json::from_slice(&body).expect("event json"))
        .collect();
    let percents: Vec<u64> = events.iter().filter_map(|e| e["progress"].as_u64()).collect();
    assert!(percents.len() >= 2, "progress events: {events:?}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]) && percents.iter().all(|p| *p < 100), "{percents:?}");
    assert_eq!(events.iter().filter(|e| e["status"] == "processed").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_timeouts_and_damage_fail_cleanly_and_leave_no_temporary_files() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_VIDEO__MAX_SECONDS", "9"),
        ("MEDIAMILL_VIDEO__TIMEOUT_SECS", "3"),
        ("MEDIAMILL_VIDEO__PRESET", "slower"),
        ("MEDIAMILL_VIDEO__MAX_PIXELS", "2000000"),
        ("MEDIAMILL_LIMITS__MAX_VIDEO_BYTES", "12000000"),
    ])
    .await;
    let key = p.key("limits");
    let slow = make_clip(&p.dir, "slow.mp4", "1280x720", 8);
    let long = make_clip(&p.dir, "long.mp4", "160x120", 12);
    let huge = make_clip(&p.dir, "huge.mp4", "2048x1152", 1);
    // Damage of several kinds: the index up front and the media cut off; random bytes behind a valid header;
    // a real header with its sample table zeroed.
    let whole = std::fs::read(make_clip(&p.dir, "whole.mp4", "320x240", 3)).unwrap();
    let faststart = p.dir.join("faststart.mp4");
    let fs_out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(p.dir.join("whole.mp4"))
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&faststart)
        .output()
        .unwrap();
    assert!(fs_out.status.success());
    let fs_bytes = std::fs::read(&faststart).unwrap();
    let cut = p.dir.join("cut.mp4");
    std::fs::write(&cut, &fs_bytes[..fs_bytes.len() / 3]).unwrap();
    let noise = p.dir.join("noise.mp4");
    let mut n = whole[..64].to_vec();
    n.extend((0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(&noise, n).unwrap();
    let zeroed = p.dir.join("zeroed.mov");
    let mut z = fs_bytes.clone();
    if let Some(pos) = z.windows(4).position(|w| w == b"stsz") {
        let end = (pos + 400).min(z.len());
        z[pos + 4..end].fill(0xFF);
    }
    std::fs::write(&zeroed, z).unwrap();

    let cases: [(&Path, &str); 6] = [
        (&slow, "timeout"),
        (&long, "too_long"),
        (&huge, "too_many_pixels"),
        (&cut, "corrupt"),
        (&noise, "corrupt"),
        (&zeroed, "corrupt"),
    ];
    let mut ids = vec![];
    for (f, _) in &cases {
        let (status, body) = p.upload_file(&key, f).await;
        assert_eq!(status, 202, "{}: {body}", f.display());
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for ((f, reason), id) in cases.iter().zip(&ids) {
        let item = p.settle_within(&key, id, Duration::from_secs(120)).await;
        assert_eq!(item["status"], "failed", "{}: {item}", f.display());
        assert_eq!(item["failure"]["reason"], *reason, "{}: {item}", f.display());
        assert!(item["failure"]["message"].as_str().is_some_and(|m| m.len() > 10), "{item}");
    }
    let cut_msg =
        p.get(&key, &format!("/v1/media/{}", ids[3])).await.1["failure"]["message"].as_str().unwrap().to_string();
    assert!(cut_msg.contains("truncated"), "{cut_msg}");

    // Oversized uploads stop at the door with the limit named.
    let big = p.dir.join("big.mp4");
    let mut b = whole[..64].to_vec();
    b.resize(13_000_000, 0);
    std::fs::write(&big, b).unwrap();
    // curl, because it reads the early answer while still sending (reqwest stops at the closed socket).
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-H", &format!("authorization: Bearer {key}"), "--data-binary"])
        .arg(format!("@{}", big.display()))
        .arg(format!("{}/v1/media", p.url))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, status) = text.rsplit_once('\n').unwrap_or(("", ""));
    assert_eq!(status, "413", "{text}");
    let body: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("limits.max_video_bytes"), "{body}");

    // The worker is still alive and its job folders are gone.
    let pid = p.video.as_ref().map(|c| c.id()).expect("video worker");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the video worker died");
    // Job folders live in the worker's work folder (what its sandbox children may use), which stays while
    // the worker runs; no job folder may be left in it, and none anywhere else.
    let prefix = format!("mediamill-video-{pid}-");
    let work = std::env::temp_dir().join(format!("{prefix}work"));
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix) && e.path() != work)
        .chain(std::fs::read_dir(&work).into_iter().flatten().flatten())
        .collect();
    assert!(left.is_empty(), "temporary folders left behind: {left:?}");
    let (status, body) = p.upload(&key, "clip.mov").await;
    assert_eq!(status, 202);
    let item = p.settle_within(&key, body["id"].as_str().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(item["status"], "processed", "{item}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hls_plays_back_from_the_api_and_its_folder_is_closed_to_everything_else() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_VIDEO__HLS", "true"),
        ("MEDIAMILL_VIDEO__HLS_SEGMENT_SECS", "1"),
        ("MEDIAMILL_VIDEO__RENDITIONS", "[{name=\"240p\",short_edge=240},{name=\"120p\",short_edge=120}]"),
    ])
    .await;
    let key = p.key("hls");
    let clip = make_clip(&p.dir, "hls.mp4", "640x360", 3);
    let (_, body) = p.upload_file(&key, &clip).await;
    let id = body["id"].as_str().unwrap().to_string();
    let item = p.settle_within(&key, &id, Duration::from_secs(120)).await;
    assert_eq!(item["status"], "processed", "{item}\n{}", p.log("video"));
    let master_url = variant(&item, "hls", "m3u8")["url"].as_str().unwrap().to_string();
    assert!(master_url.ends_with(&format!("/v1/media/{id}/hls/master.m3u8")), "{master_url}");

    // Fetch the master, every playlist it names and every segment those name, as a player would.
    let http = reqwest::Client::new();
    let get = |url: String| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let r = http.get(&url).bearer_auth(&key).send().await.expect("get");
            assert_eq!(r.status(), 200, "{url}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            (ct, r.bytes().await.expect("body").to_vec())
        }
    };
    let base = master_url.trim_end_matches("master.m3u8").to_string();
    let local = p.dir.join("hls");
    std::fs::create_dir_all(&local).unwrap();
    let (ct, master) = get(master_url.clone()).await;
    assert_eq!(ct, "application/vnd.apple.mpegurl");
    let master = String::from_utf8(master).unwrap();
    let playlists: Vec<&str> = master.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert_eq!(playlists, ["240p.m3u8", "120p.m3u8"], "{master}");
    assert!(master.contains("RESOLUTION=426x240") && master.contains("RESOLUTION=212x120"), "{master}");
    for (pl, (w, h)) in playlists.iter().zip([(426, 240), (212, 120)]) {
        let (_, text) = get(format!("{base}{pl}")).await;
        std::fs::write(local.join(pl), &text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let segments: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
        assert!(segments.len() >= 3, "one-second segments of a 3 s clip: {text}");
        for s in &segments {
            let (ct, bytes) = get(format!("{base}{s}")).await;
            assert_eq!(ct, "video/mp2t");
            std::fs::write(local.join(s), bytes).unwrap();
        }
        let (streams, duration) = ffprobe(&local.join(pl));
        assert_eq!(streams, vec![("h264".to_string(), w, h)], "{pl}");
        assert!((duration - 3.0).abs() <= 0.1, "{pl}: {duration} s");
    }

    // Nothing but HLS files of this tenant's item comes out of that folder.
    let other = p.key("someone-else");
    let r = http.get(&master_url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), 404, "another tenant");
    for bad in ["evil.sh", "..%2F..%2Fraw", ".m3u8", "master.m3u8%00.ts"] {
        let r = http.get(format!("{base}{bad}")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let r = http.get(format!("{base}nothere.ts")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
