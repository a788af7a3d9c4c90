//! The thumbnail worker end to end: POST and signed GET routes through
//! `studio-edge up`, every input and output format, an EXIF-rotated input,
//! limits and corrupt data as problems, quality against an independent
//! Lanczos3 reference, and identical bytes from `wasmtime serve`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use studio_edge_imaging::image::{RgbaImage, imageops};
use studio_edge_imaging::testing::{
    jpeg_with_exif_orientation, png_header_only, progressive_jpeg, two_frame_gif,
};
use studio_edge_imaging::{Format, Limits, decode, encode, icc, quality, sniff};
use studio_edge_thumbnail::signing::SigningKey;

use crate::support::{
    Host, Reply, WasmtimeServe, client, component, fixtures, post, wasmtime_component,
};

/// A deployment key and salt (hex), as `spin.toml` variables would carry them.
const KEY: &str = "5ec2e7c0ffee5ec2e7c0ffee5ec2e7c0ffee";
const SALT: &str = "5a17";

fn photo_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("photos").join(name)).expect("fixture photo")
}

/// The photo as the worker sees it: decoded, oriented, converted to sRGB.
fn photo(name: &str) -> RgbaImage {
    let mut decoded = decode(&photo_bytes(name), &Limits::default()).expect("decodes");
    if let Some(profile) = &decoded.icc_profile {
        let _ = icc::to_srgb(&mut decoded.image, profile);
    }
    decoded.image
}

/// A manifest serving the thumbnail component at `/v1/thumbnail/...` (which
/// also matches `/v1/thumbnail`), with outbound HTTP to loopback for the
/// source server.
fn write_manifest(dir: &Path) -> PathBuf {
    write_manifest_allowing(dir, r#"["http://127.0.0.1:*"]"#)
}

/// [`write_manifest`] with `allowed` (a TOML array) as the component's
/// `allowed_outbound_hosts`.
fn write_manifest_allowing(dir: &Path, allowed: &str) -> PathBuf {
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "thumbnail-test"

[variables]
thumbnail_signing_key = {{ default = "" }}
thumbnail_signing_salt = {{ default = "" }}

[[trigger.http]]
route = "/v1/thumbnail/..."
component = "thumbnail"

[component.thumbnail]
source = "{}"
allowed_outbound_hosts = {allowed}

[component.thumbnail.variables]
signing_key = "{{{{ thumbnail_signing_key }}}}"
signing_salt = "{{{{ thumbnail_signing_salt }}}}"
"#,
        component("studio-edge-thumbnail").display(),
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

/// Serves `body` as `image/jpeg` to every GET on a loopback port; returns
/// the base URL. The thread lives as long as the test process.
fn serve_source(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind source server");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let found = request_line.starts_with("GET /photo.jpg ");
            let mut stream = reader.into_inner();
            let head = if found {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = stream.write_all(head.as_bytes());
            if found {
                let _ = stream.write_all(&body);
            }
        }
    });
    format!("http://{addr}")
}

/// Answers every request with a 302 to `location`; returns the base URL.
fn serve_redirect(location: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind redirect server");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = reader.into_inner().write_all(head.as_bytes());
        }
    });
    format!("http://{addr}")
}

fn thumbnail_url(base: &str, query: &str) -> String {
    format!("{base}/v1/thumbnail?{query}")
}

fn decoded(reply: &Reply) -> RgbaImage {
    decode(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("response does not decode: {e}"))
        .image
}

#[test]
fn every_input_and_output_format_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&write_manifest(dir.path()), &[], &[]);
    let original = photo("chelsea.png");
    let (w, h) = original.dimensions();
    let upright_height = (200.0 * f64::from(h) / f64::from(w)).round() as u32;
    let inputs = [
        ("jpeg", encode(&original, Format::Jpeg, 90).unwrap()),
        ("progressive jpeg", progressive_jpeg(&original, 90).unwrap()),
        ("png", encode(&original, Format::Png, 90).unwrap()),
        ("webp", encode(&original, Format::Webp, 90).unwrap()),
        ("gif (first frame)", two_frame_gif(&original).unwrap()),
        (
            "EXIF-rotated jpeg",
            jpeg_with_exif_orientation(&imageops::rotate270(&original), 90, 6).unwrap(),
        ),
    ];
    for (input, bytes) in &inputs {
        for (output, format) in [
            ("jpeg", Format::Jpeg),
            ("png", Format::Png),
            ("webp", Format::Webp),
        ] {
            let reply = post(
                &thumbnail_url(&host.url(""), &format!("w=200&format={output}")),
                "application/octet-stream",
                bytes.clone(),
            );
            assert_eq!(reply.status, 200, "{input} -> {output}: {}", reply.text());
            assert_eq!(reply.header("content-type"), Some(format.mime()));
            assert_eq!(sniff(&reply.body), Some(format), "{input} -> {output}");
            assert!(reply.header("etag").is_some_and(|tag| tag.starts_with('"')));
            let thumb = decoded(&reply);
            assert_eq!(
                thumb.dimensions(),
                (200, upright_height),
                "{input} -> {output}"
            );
            let reference = imageops::resize(
                &original,
                200,
                upright_height,
                imageops::FilterType::Lanczos3,
            );
            let psnr = quality::psnr(&reference, &thumb);
            assert!(psnr > 25.0, "{input} -> {output}: PSNR {psnr}");
        }
    }
    // `auto` negotiates from Accept and says so in Vary.
    let reply = Reply::send(
        client()
            .post(thumbnail_url(&host.url(""), "w=100&format=auto"))
            .header("accept", "image/avif,image/webp,*/*")
            .body(inputs[0].1.clone()),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("vary"), Some("Accept"));
}

/// A 320-px-wide thumbnail (lossless output, so that only decoding,
/// shrink-on-load and resampling are measured) has luma SSIM >= 0.95
/// against image-rs's Lanczos3 resize of the full-size original.
#[test]
fn thumbnails_match_a_lanczos3_reference() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&write_manifest(dir.path()), &[], &[]);
    for name in [
        "astronaut.png",
        "coffee.png",
        "hubble_deep_field.jpg",
        "retina.jpg",
        "rocket.jpg",
    ] {
        let reply = post(
            &thumbnail_url(&host.url(""), "w=320&format=png"),
            "application/octet-stream",
            photo_bytes(name),
        );
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        let thumb = decoded(&reply);
        assert_eq!(thumb.width(), 320);
        let reference = imageops::resize(
            &photo(name),
            thumb.width(),
            thumb.height(),
            imageops::FilterType::Lanczos3,
        );
        let ssim = quality::ssim_luma(&reference, &thumb);
        assert!(ssim >= 0.95, "{name}: SSIM {ssim}");
    }
}

#[test]
fn bad_input_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&write_manifest(dir.path()), &[], &[]);
    let url = |query: &str| thumbnail_url(&host.url(""), query);
    let photo = photo_bytes("rocket.jpg");

    let bad = post(&url("w=320&gravity=up"), "image/jpeg", photo.clone());
    let problem = bad.assert_problem(400, "bad-option");
    assert!(problem["detail"].as_str().unwrap().contains("gravity"));

    // 100 megapixels declared in the header, no pixel data behind it.
    let bomb = post(&url("w=320"), "image/png", png_header_only(10_000, 10_000));
    bomb.assert_problem(413, "too-large");

    let mut corrupt = photo[..20].to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5, 20_000));
    post(&url("w=320"), "image/jpeg", corrupt).assert_problem(422, "unprocessable");
    post(&url("w=320"), "image/svg+xml", b"<svg/>".to_vec())
        .assert_problem(415, "unsupported-format");
}

#[test]
fn signed_transform_routes() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        &write_manifest(dir.path()),
        &[],
        &[
            ("SPIN_VARIABLE_THUMBNAIL_SIGNING_KEY", KEY),
            ("SPIN_VARIABLE_THUMBNAIL_SIGNING_SALT", SALT),
        ],
    );
    let source = serve_source(photo_bytes("rocket.jpg"));
    let key = SigningKey::from_hex(KEY, SALT).unwrap().unwrap();
    let path = format!(
        "/w:160,h:160,fit:cover,g:sm,f:jpeg/{}",
        URL_SAFE_NO_PAD.encode(format!("{source}/photo.jpg"))
    );
    let signed =
        Reply::send(client().get(host.url(&format!("/v1/thumbnail/{}{path}", key.sign(&path)))));
    assert_eq!(signed.status, 200, "{}", signed.text());
    assert_eq!(signed.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        signed.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(decoded(&signed).dimensions(), (160, 160));

    // The signature of one path does not sign another.
    let other = path.replace("w:160", "w:1600");
    Reply::send(client().get(host.url(&format!("/v1/thumbnail/{}{other}", key.sign(&path)))))
        .assert_problem(403, "forbidden");
    // With a key configured, `unsafe` is refused.
    Reply::send(client().get(host.url(&format!("/v1/thumbnail/unsafe{path}"))))
        .assert_problem(403, "forbidden");
    // A missing source is the origin's failure.
    let missing = format!(
        "/w:100/{}",
        URL_SAFE_NO_PAD.encode(format!("{source}/missing.jpg"))
    );
    Reply::send(client().get(host.url(&format!("/v1/thumbnail/{}{missing}", key.sign(&missing)))))
        .assert_problem(502, "bad-gateway");
}

/// `*` in `allowed_outbound_hosts` reaches public addresses only: a name
/// that resolves to loopback (the host's own `/metrics`, a source server on
/// this machine) is refused at the host after resolution, and the worker
/// answers 403; the explicit `http://127.0.0.1:*` entry still reaches
/// loopback, and a redirect from there to a refused address is refused.
#[test]
fn sources_on_non_public_addresses_need_an_explicit_entry() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        &write_manifest_allowing(
            dir.path(),
            r#"["https://*:*", "http://*:*", "http://127.0.0.1:*"]"#,
        ),
        &[],
        &[],
    );
    let source = serve_source(photo_bytes("rocket.jpg"));
    let port = source.rsplit(':').next().unwrap();
    let fetch = |url: &str| {
        let path = format!("/w:64,f:jpeg/{}", URL_SAFE_NO_PAD.encode(url));
        Reply::send(client().get(host.url(&format!("/v1/thumbnail/unsafe{path}"))))
    };

    let metrics = format!("https://localhost:{}/metrics", host.addr().port());
    let refused = fetch(&metrics).assert_problem(403, "source-not-allowed");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("not a public one"),
        "{refused}"
    );
    for url in [
        format!("http://localhost:{port}/photo.jpg"),
        format!("http://[::1]:{port}/photo.jpg"),
        format!("http://0.0.0.0:{port}/photo.jpg"),
    ] {
        fetch(&url).assert_problem(403, "source-not-allowed");
    }
    assert!(host.logged("outbound request refused"), "{}", host.logs());

    let allowed = fetch(&format!("{source}/photo.jpg"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(decoded(&allowed).width(), 64);

    let to_allowed = serve_redirect(format!("{source}/photo.jpg"));
    let followed = fetch(&format!("{to_allowed}/start"));
    assert_eq!(followed.status, 200, "{}", followed.text());

    let to_refused = serve_redirect(format!("http://localhost:{port}/photo.jpg"));
    let refused = fetch(&format!("{to_refused}/start")).assert_problem(403, "source-not-allowed");
    assert!(
        refused["detail"].as_str().unwrap().contains("redirect 1"),
        "{refused}"
    );

    let looping = serve_redirect("/again".to_owned());
    fetch(&format!("{looping}/start")).assert_problem(502, "bad-gateway");
}

/// The same worker, the same request: `wasmtime serve` (the worker composed
/// with the spin-env-adapter) and `studio-edge up` answer with the same bytes
/// (POST, and an unsigned GET fetching a source).
#[test]
fn wasmtime_serve_and_the_host_agree() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&write_manifest(dir.path()), &[], &[]);
    let serve = WasmtimeServe::start(&wasmtime_component("studio-edge-thumbnail"), &[]);
    let source = serve_source(photo_bytes("hubble_deep_field.jpg"));
    let get_path = format!(
        "/v1/thumbnail/unsafe/w:240,h:180,g:ne,f:png/{}",
        URL_SAFE_NO_PAD.encode(format!("{source}/photo.jpg"))
    );
    for (query, body) in [
        (
            "w=320&format=jpeg&q=80",
            photo_bytes("hubble_deep_field.jpg"),
        ),
        (
            "w=200&h=200&fit=pad&bg=102030&format=webp",
            photo_bytes("coffee.png"),
        ),
    ] {
        let from_host = post(
            &thumbnail_url(&host.url(""), query),
            "image/jpeg",
            body.clone(),
        );
        let from_serve = post(&thumbnail_url(&serve.url(""), query), "image/jpeg", body);
        assert_eq!(from_host.status, 200, "{}", from_host.text());
        assert_eq!(from_serve.status, 200, "{}", from_serve.text());
        assert!(from_host.body == from_serve.body, "{query}: bytes differ");
        assert_eq!(from_host.header("etag"), from_serve.header("etag"));
    }
    let from_host = Reply::send(client().get(host.url(&get_path)));
    let from_serve = Reply::send(client().get(serve.url(&get_path)));
    assert_eq!(from_host.status, 200, "{}", from_host.text());
    assert_eq!(from_serve.status, 200, "{}", from_serve.text());
    assert!(from_host.body == from_serve.body, "GET: bytes differ");
}

/// Under `wasmtime serve` the `signing_key` and `signing_salt` variables are
/// `--env SIGNING_KEY` and `--env SIGNING_SALT`: `unsafe` URLs are refused
/// and signed ones served.
#[test]
fn wasmtime_serve_takes_the_signing_key_from_the_environment() {
    let serve = WasmtimeServe::start(
        &wasmtime_component("studio-edge-thumbnail"),
        &[("SIGNING_KEY", KEY), ("SIGNING_SALT", SALT)],
    );
    let source = serve_source(photo_bytes("coffee.png"));
    let path = format!(
        "/w:64,f:png/{}",
        URL_SAFE_NO_PAD.encode(format!("{source}/photo.jpg"))
    );
    Reply::send(client().get(serve.url(&format!("/v1/thumbnail/unsafe{path}"))))
        .assert_problem(403, "forbidden");
    let key = SigningKey::from_hex(KEY, SALT).unwrap().unwrap();
    let signed =
        Reply::send(client().get(serve.url(&format!("/v1/thumbnail/{}{path}", key.sign(&path)))));
    assert_eq!(signed.status, 200, "{}", signed.text());
    assert_eq!(
        signed.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

#[test]
fn cli_thumb_in_the_component_and_natively_alike() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("photos/astronaut.png");
    let run = |output: &Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_studio-edge"))
            .arg("thumb")
            .arg(&input)
            .arg(output)
            .args([
                "--w", "200", "--h", "120", "--fit", "cover", "--format", "png",
            ])
            .arg("--component")
            .arg(component("studio-edge-thumbnail"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .output()
            .expect("run studio-edge thumb")
    };
    let mut images = Vec::new();
    for (name, extra) in [("wasm.png", &[][..]), ("native.png", &["--native"][..])] {
        let output = dir.path().join(name);
        let result = run(&output, extra);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        let image = decode(&std::fs::read(&output).unwrap(), &Limits::default())
            .unwrap()
            .image;
        assert_eq!(image.dimensions(), (200, 120), "{name}");
        images.push(image);
    }
    // The same code on both sides; SIMD paths (AVX2 and simd128) may round
    // a pixel differently, nothing more.
    let ssim = quality::ssim_luma(&images[0], &images[1]);
    assert!(ssim > 0.999, "component and native differ: SSIM {ssim}");

    let bad = run(&dir.path().join("never.png"), &["--native", "--dpr", "9"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dpr"));
    assert!(!dir.path().join("never.png").exists());
}
