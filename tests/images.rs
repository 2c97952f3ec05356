//! Image processing checked with independent tools (ImageMagick, exiftool) through `mediamill process`, the
//! worker's own code on local files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mediamill")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mm-img-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("tool");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `mediamill process` on files; returns each file's JSON line.
fn process(files: &[&Path], out: &Path) -> Vec<serde_json::Value> {
    process_with(files, out, &[])
}

/// [`process`] with `MEDIAMILL_*` settings.
fn process_with(files: &[&Path], out: &Path, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let o = Command::new(bin())
        .arg("process")
        .args(files)
        .arg("--out")
        .arg(out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON line per file"))
        .collect()
}

fn rgb_at(path: &Path, x: u32, y: u32) -> [u8; 3] {
    let img = image::open(path).unwrap().to_rgb8();
    img.get_pixel(x, y).0
}

fn mean_abs_diff(a: &Path, b: &Path) -> f64 {
    let (a, b) = (image::open(a).unwrap().to_rgb8(), image::open(b).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as i64 - *y as i64).unsigned_abs()).sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn all_eight_orientations_give_the_same_upright_image() {
    let d = tmp("orient");
    // An asymmetric upright picture: any wrong flip or rotation shows.
    let upright = d.join("upright.png");
    sh(Command::new("convert")
        .args([
            "-size",
            "300x200",
            "xc:white",
            "-fill",
            "red",
            "-draw",
            "rectangle 0,0 100,60",
            "-fill",
            "blue",
            "-draw",
            "rectangle 220,150 300,200",
        ])
        .arg(&upright));
    // Stored pixels for each tag: the inverse of what the tag asks a viewer to do.
    let inverse = ["", "-flop", "-rotate 180", "-flip", "-transpose", "-rotate 270", "-transverse", "-rotate 90"];
    let mut files = Vec::new();
    for (i, op) in inverse.iter().enumerate() {
        let f = d.join(format!("o{}.jpg", i + 1));
        let mut c = Command::new("convert");
        c.arg(&upright).args(op.split_whitespace()).args(["-quality", "95"]).arg(&f);
        sh(&mut c);
        sh(Command::new("exiftool")
            .args(["-q", "-overwrite_original", "-n", &format!("-Orientation={}", i + 1)])
            .arg(&f));
        // ImageMagick agrees that this file, turned upright, is the picture.
        let check = d.join(format!("check{}.png", i + 1));
        sh(Command::new("convert").arg(&f).arg("-auto-orient").arg(&check));
        assert!(mean_abs_diff(&check, &upright) < 6.0, "fixture for orientation {} is wrong", i + 1);
        files.push(f);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = d.join("out");
    let lines = process(&refs, &out);
    assert_eq!(lines.len(), 8);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["status"], "processed", "{l}");
        assert_eq!(l["metadata"]["orientation"], i + 1);
        assert_eq!((l["metadata"]["width"].as_u64(), l["metadata"]["height"].as_u64()), (Some(300), Some(200)));
        let thumb = out.join(format!("o{}.jpg", i + 1)).join("medium.jpg");
        let diff = mean_abs_diff(&thumb, &upright);
        assert!(diff < 6.0, "orientation {} comes out different (mean diff {diff})", i + 1);
    }
}

#[test]
fn wide_gamut_colour_is_converted_to_srgb() {
    let d = tmp("icc");
    let tagged = d.join("adobe.png");
    let icc = root().join("fixtures/icc/compatibleWithAdobeRGB1998.icc");
    let srgb = root().join("fixtures/icc/sRGB.icc");
    sh(Command::new("convert").args(["-size", "64x64", "xc:rgb(40,180,90)", "-profile"]).arg(&icc).arg(&tagged));
    // The reference: LittleCMS through ImageMagick.
    let reference = d.join("ref.png");
    sh(Command::new("convert").arg(&tagged).arg("-profile").arg(&srgb).arg(&reference));
    let want = rgb_at(&reference, 32, 32);
    let untagged_would_be = [40u8, 180, 90];
    assert!(
        want.iter().zip(untagged_would_be).any(|(a, b)| a.abs_diff(b) > 10),
        "the test colour must change: {want:?}"
    );
    let lines = process(&[&tagged], &d.join("out"));
    assert_eq!(lines[0]["metadata"]["icc_profile"], true, "{}", lines[0]);
    let got = rgb_at(&d.join("out/adobe.png/thumb.webp"), 20, 20);
    let got_jpeg = rgb_at(&d.join("out/adobe.png/thumb.jpg"), 20, 20);
    for (g, w) in got.iter().chain(got_jpeg.iter()).zip(want.iter().chain(want.iter())) {
        assert!(g.abs_diff(*w) <= 4, "got {got:?} / {got_jpeg:?}, ImageMagick says {want:?}");
    }
}

#[test]
fn metadata_is_read_but_never_written() {
    let d = tmp("gps");
    let photo = root().join("fixtures/media/orient6.jpg");
    let with_camera = d.join("camera.jpg");
    std::fs::copy(&photo, &with_camera).unwrap();
    sh(Command::new("exiftool")
        .args([
            "-q",
            "-overwrite_original",
            "-Make=Mediamill",
            "-Model=Test Cam",
            "-DateTimeOriginal=2026:11:25 10:00:00",
            "-Copyright=ACME",
        ])
        .arg(&with_camera));
    let lines = process(&[&with_camera], &d.join("out"));
    let m = &lines[0]["metadata"];
    assert_eq!((m["camera_make"].as_str(), m["camera_model"].as_str()), (Some("Mediamill"), Some("Test Cam")), "{m}");
    assert_eq!(m["captured_at"], "2026:11:25 10:00:00");
    assert_eq!(m["gps_present"], true);
    assert!(m.get("gps").is_none() && !m.to_string().contains("48.85"), "coordinates never leave by default: {m}");
    for v in lines[0]["variants"].as_array().unwrap() {
        let out = Command::new("exiftool")
            .args(["-s3", "-GPS:all", "-Make", "-Copyright"])
            .arg(v["path"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(out.stdout.is_empty(), "{} keeps metadata: {}", v["path"], String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn tiff_bmp_and_friends_are_processed_and_hostile_files_fail_cleanly() {
    let d = tmp("formats");
    let mut files = Vec::new();
    for (name, extra) in [
        ("a.tiff", vec![]),
        ("b.bmp", vec![]),
        ("c.png", vec!["-type", "Palette"]),
        ("d.jpg", vec!["-colorspace", "Gray"]),
        ("e.jpg", vec!["-sampling-factor", "4:4:4"]),
        ("f.jpg", vec!["-sampling-factor", "4:2:2"]),
    ] {
        let f = d.join(name);
        sh(Command::new("convert").args(["-size", "120x80", "gradient:red-blue"]).args(&extra).arg(&f));
        files.push(f);
    }
    // Broken on purpose: truncated, random, mislabelled, a header claiming a huge image.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(d.join("cut.tiff"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(
        d.join("noise.jpg"),
        (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(d.join("html.png"), b"<html><script>alert(1)</script></html>").unwrap();
    std::fs::copy(root().join("fixtures/media/bomb.png"), d.join("bomb.png")).unwrap();
    std::fs::write(d.join("empty.gif"), b"").unwrap();
    for n in ["cut.tiff", "noise.jpg", "html.png", "bomb.png", "empty.gif"] {
        files.push(d.join(n));
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let lines = process(&refs, &d.join("out"));
    assert_eq!(lines.len(), 11, "every file gets an answer, none crashes the run");
    for l in &lines[..6] {
        assert_eq!(l["status"], "processed", "{l}");
        assert_eq!(l["variants"][0]["width"], 120);
    }
    let reasons: Vec<&str> = lines[6..].iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["corrupt", "unsupported_format", "unsupported_format", "too_many_pixels", "empty"],
        "{lines:?}"
    );
    let status =
        Command::new(bin()).arg("process").arg(d.join("bomb.png")).arg("--out").arg(d.join("o2")).status().unwrap();
    assert!(!status.success(), "a failed file makes the exit status non-zero");
}

#[test]
fn heic_and_avif_decode_like_libheif_and_keep_their_secrets() {
    let d = tmp("heif");
    let fixtures = root().join("fixtures/media");
    let (heic, avif) = (fixtures.join("photo.heic"), fixtures.join("photo.avif"));
    let lines = process(&[&heic, &avif, &fixtures.join("truncated.heic")], &d.join("out"));
    for (l, f, format) in [(&lines[0], &heic, "heif"), (&lines[1], &avif, "avif")] {
        assert_eq!(l["status"], "processed", "{l}");
        assert_eq!(l["metadata"]["format"], format);
        assert_eq!((l["metadata"]["width"].as_u64(), l["metadata"]["height"].as_u64()), (Some(800), Some(600)));
        // The reference: the same file decoded by ImageMagick (its own libheif coder) and scaled alike.
        let reference = d.join(format!("{format}-ref.png"));
        sh(Command::new("convert").arg(f).args(["-resize", "256x192!"]).arg(&reference));
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let diff = mean_abs_diff(&d.join(format!("out/{name}/thumb.jpg")), &reference);
        assert!(diff < 6.0, "{name}: mean difference {diff} from ImageMagick's decode");
    }
    let m = &lines[0]["metadata"];
    assert_eq!((m["camera_make"].as_str(), m["gps_present"].as_bool()), (Some("Apple"), Some(true)), "{m}");
    assert!(!m.to_string().contains("48.85"), "{m}");
    for v in lines[0]["variants"].as_array().unwrap() {
        let out = Command::new("exiftool")
            .args(["-s3", "-GPS:all", "-Make"])
            .arg(v["path"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(out.stdout.is_empty(), "{} keeps metadata: {}", v["path"], String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(
        (lines[2]["status"].as_str(), lines[2]["reason"].as_str()),
        (Some("failed"), Some("corrupt")),
        "{}",
        lines[2]
    );
}

#[test]
fn rights_can_be_kept_without_anything_else_and_auto_picks_webp() {
    let d = tmp("rights");
    let photo = d.join("signed.jpg");
    std::fs::copy(root().join("fixtures/media/orient6.jpg"), &photo).unwrap(); // has GPS
    sh(Command::new("exiftool")
        .args(["-q", "-overwrite_original", "-Make=Mediamill", "-Artist=Ada Lovelace", "-Copyright=(c) 2026 ACME"])
        .arg(&photo));
    let lines = process_with(
        &[&photo],
        &d.join("out"),
        &[
            ("MEDIAMILL_IMAGE__KEEP_RIGHTS", "true"),
            ("MEDIAMILL_IMAGE__VARIANTS", "[{name=\"thumb\",long_edge=256,formats=[\"auto\",\"jpeg\"],quality=80}]"),
        ],
    );
    let variants = lines[0]["variants"].as_array().unwrap_or_else(|| panic!("{}", lines[0]));
    let formats: Vec<&str> = variants.iter().map(|v| v["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["webp", "jpeg"], "auto became WebP");
    for v in variants {
        let path = v["path"].as_str().unwrap();
        let out = Command::new("exiftool").args(["-s3", "-Artist", "-Copyright"]).arg(path).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Ada Lovelace\n(c) 2026 ACME\n", "{path}");
        let out =
            Command::new("exiftool").args(["-s3", "-GPS:all", "-Make", "-Orientation"]).arg(path).output().unwrap();
        assert!(out.stdout.is_empty(), "{path} keeps more than the rights: {}", String::from_utf8_lossy(&out.stdout));
        image::open(path).unwrap_or_else(|e| panic!("{path} no longer decodes: {e}"));
    }
}

#[test]
fn avif_output_when_a_variant_asks_for_it() {
    let d = tmp("avif-out");
    let photo = root().join("fixtures/media/progressive.jpg");
    let lines = process_with(
        &[&photo],
        &d.join("out"),
        &[("MEDIAMILL_IMAGE__VARIANTS", "[{name=\"thumb\",long_edge=256,formats=[\"avif\"],quality=60}]")],
    );
    let v = &lines[0]["variants"][0];
    assert_eq!(
        (v["format"].as_str(), v["width"].as_u64(), v["height"].as_u64()),
        (Some("avif"), Some(256), Some(192)),
        "{}",
        lines[0]
    );
    let path = PathBuf::from(v["path"].as_str().unwrap());
    // An AVIF (brand in the ftyp box), read back by ImageMagick's own decoder, close to its own resize.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[4..12], b"ftypavif", "not an AVIF file");
    let out = Command::new("identify").args(["-format", "%w %h"]).arg(&path).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "256 192");
    let png = d.join("avif.png");
    sh(Command::new("convert").arg(&path).arg(&png));
    let reference = d.join("ref.png");
    sh(Command::new("convert").arg(&photo).args(["-resize", "256x192!"]).arg(&reference));
    let diff = mean_abs_diff(&png, &reference);
    assert!(diff < 6.0, "mean difference {diff}");
}
