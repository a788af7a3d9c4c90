//! What the fuzz targets share: how an input is split into a request, and
//! what every answer must look like.

use studio_edge_guest::Response;
use studio_edge_imaging::Limits;

/// Small enough that a fuzzer's giant header does not spend seconds
/// allocating; the real limits are tested in the test suite.
pub const LIMITS: Limits = Limits {
    max_bytes: 1 << 20,
    max_pixels: 1 << 20,
};

/// An input read as `<text>\n<body>`: the first line (lossy UTF-8, at most
/// 1 KiB) and the bytes after it.
pub fn split(data: &[u8]) -> (String, &[u8]) {
    let end = data
        .iter()
        .take(1024)
        .position(|&b| b == b'\n')
        .unwrap_or(data.len().min(1024));
    let text = String::from_utf8_lossy(&data[..end]).into_owned();
    let body = data.get(end + 1..).unwrap_or_default();
    (text, body)
}

/// An answer is a success or a client error, and every error is a
/// problem+json document whose `status` is the response's. A 5xx would be a
/// crash the user sees.
pub fn check_answer(response: &Response) {
    let status = response.status;
    assert!(
        (200..300).contains(&status) || (400..500).contains(&status),
        "status {status}: {}",
        String::from_utf8_lossy(&response.body)
    );
    if status >= 400 {
        let content_type = response.header("content-type").unwrap_or_default();
        assert_eq!(content_type, "application/problem+json", "status {status}");
        check_problem(&response.body, status);
    }
}

/// `body` is a problem document for `status`.
pub fn check_problem(body: &[u8], status: u16) {
    let problem: serde_json::Value = serde_json::from_slice(body).expect("problem+json is JSON");
    assert_eq!(problem["status"], status, "{problem}");
    assert!(problem["type"].is_string(), "{problem}");
    assert!(problem["title"].is_string(), "{problem}");
}
