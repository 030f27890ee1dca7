//! Differential check against the JDK: `fuzz/jdk/TrackGen.java` writes random track messages the
//! way lavaplayer does (`DataOutputStream.writeUTF`, `MessageOutput` framing), and each must decode
//! to the same code points and re-encode to the same base64.
//!
//! Needs `javac` and `java` on the path, so it is ignored by default:
//! `cargo test -p lavalink --test codec_jdk -- --ignored` (env `JDK_VECTORS`, default 20000).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use lavalink::codec::{decode_track, encode_decoded, encode_track};

/// `-` for null, else `[hex hex ...]` code points.
fn code_points(field: &str) -> Option<String> {
    if field == "-" {
        return None;
    }
    let inner = field.trim_start_matches('[').trim_end_matches(']');
    Some(
        inner
            .split_whitespace()
            .map(|hex| {
                let code = u32::from_str_radix(hex, 16).expect("hex code point");
                char::from_u32(code).expect("a scalar value")
            })
            .collect(),
    )
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .expect("runs (are javac and java installed?)");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
#[ignore = "needs a JDK; run with --ignored"]
fn jdk_written_messages_decode_and_reencode_identically() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/jdk/TrackGen.java");
    let classes = std::env::temp_dir().join(format!("dimby-trackgen-{}", std::process::id()));
    std::fs::create_dir_all(&classes).expect("temp dir");
    run(Command::new("javac").arg("-d").arg(&classes).arg(&source));
    let count = std::env::var("JDK_VECTORS").unwrap_or_else(|_| "20000".into());
    let seed = std::process::id().to_string();
    let stdout = run(Command::new("java")
        .arg("-cp")
        .arg(&classes)
        .args(["TrackGen", &count, &seed]));
    let _ = std::fs::remove_dir_all(&classes);

    let text = String::from_utf8(stdout).expect("ASCII output");
    let mut checked = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 13, "{line}");
        let track = decode_track(f[0]).unwrap_or_else(|error| panic!("{line}: {error}"));
        let info = &track.info;
        assert_eq!(track.version.to_string(), f[1], "{line}");
        assert_eq!(Some(info.title.clone()), code_points(f[2]), "{line}");
        assert_eq!(Some(info.author.clone()), code_points(f[3]), "{line}");
        assert_eq!(info.length.to_string(), f[4], "{line}");
        assert_eq!(Some(info.identifier.clone()), code_points(f[5]), "{line}");
        assert_eq!(info.is_stream.to_string(), f[6], "{line}");
        assert_eq!(info.uri, code_points(f[7]), "{line}");
        assert_eq!(info.artwork_url, code_points(f[8]), "{line}");
        assert_eq!(info.isrc, code_points(f[9]), "{line}");
        assert_eq!(Some(info.source_name.clone()), code_points(f[10]), "{line}");
        let hex = track.source_data.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        assert_eq!(hex, f[11], "{line}");
        assert_eq!(info.position.to_string(), f[12], "{line}");
        assert_eq!(encode_decoded(&track).expect("encodes"), f[0], "{line}");
        if track.version == 3 && track.source_data.is_empty() {
            assert_eq!(encode_track(info).expect("encodes"), f[0], "{line}");
        }
        checked += 1;
    }
    assert!(checked > 0, "TrackGen wrote nothing");
    eprintln!("{checked} JDK-written messages checked (seed {seed})");
}
