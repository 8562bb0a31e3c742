//! The command-line client of the controller against servers that misbehave, on 127.0.0.1: a
//! chunked answer splitting a UTF-8 character between chunks, answers framed wrongly or cut
//! short, a server that never answers, one that answers without end.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use xenflux::controller::client::{request, ClientError};

/// Serves one connection with `answer` (after reading the request head), in a thread.
fn one_shot(answer: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            if c.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        answer(&mut c);
    });
    url
}

#[test]
fn a_character_split_between_chunks_is_joined() {
    let url = one_shot(|c| {
        // "dns: synchronisé ✓" with "é" and "✓" each cut between two chunks.
        let body = "dns: synchronisé ✓".as_bytes().to_vec();
        let e = body.iter().position(|&b| b == 0xc3).unwrap();
        let tick = body.len() - 2;
        let parts = [&body[..e + 1], &body[e + 1..tick], &body[tick..]];
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for p in parts {
            let _ = c.write_all(format!("{:x}\r\n", p.len()).as_bytes());
            let _ = c.write_all(p);
            let _ = c.write_all(b"\r\n");
            let _ = c.flush();
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.write_all(b"0\r\n\r\n");
    });
    let body = request(
        &url,
        "POST",
        "/reconcile",
        Some("t"),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(body, "dns: synchronisé ✓");
}

#[test]
fn chunk_extensions_are_skipped() {
    let url = one_shot(|c| {
        let _ = c.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
        );
    });
    let body = request(&url, "POST", "/reconcile", None, Duration::from_secs(10)).unwrap();
    assert_eq!(body, "hello world");
}

#[test]
fn bad_framing_is_an_error_not_a_panic() {
    let cases: [(&'static [u8], &str); 9] = [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "malformed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
            "malformed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
            "malformed",
        ),
        // The last chunk never comes, nor the rest of a body of announced length.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            "malformed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "malformed",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "malformed"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            "too large",
        ),
        (b"garbage\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "malformed"),
    ];
    for (raw, want) in cases {
        let url = one_shot(move |c| {
            let _ = c.write_all(raw);
        });
        let e = request(&url, "GET", "/status", None, Duration::from_secs(10)).unwrap_err();
        let got = match e {
            ClientError::Malformed { .. } => "malformed",
            ClientError::TooLarge { .. } => "too large",
            _ => "other",
        };
        assert_eq!(got, want, "{}: {e}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn no_listener_is_unreachable() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = request(&url, "POST", "/reconcile", None, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let url = one_shot(|_| std::thread::sleep(Duration::from_secs(5)));
    let started = Instant::now();
    let e = request(&url, "POST", "/reconcile", None, Duration::from_millis(500)).unwrap_err();
    assert!(matches!(e, ClientError::TimedOut { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_server_that_answers_without_end_is_cut_off() {
    // Headers that never end, and a body without end: bounded in size, or in time.
    let url = one_shot(|c| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\n");
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && c.write_all(line).is_ok() {}
    });
    let e = request(&url, "GET", "/status", None, Duration::from_secs(3)).unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::TooLarge { .. }
                | ClientError::Malformed { .. }
                | ClientError::TimedOut { .. }
        ),
        "{e}"
    );
    let url = one_shot(|c| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && c.write_all(&[b'a'; 4096]).is_ok() {}
    });
    let e = request(&url, "GET", "/status", None, Duration::from_secs(3)).unwrap_err();
    assert!(matches!(e, ClientError::TooLarge { .. }), "{e}");
}

#[test]
fn an_error_answer_is_reported_with_its_status() {
    let url = one_shot(|c| {
        let _ = c.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\ntoken\n");
    });
    match request(&url, "POST", "/reconcile", None, Duration::from_secs(5)) {
        Err(ClientError::Refused { status, body, .. }) => {
            assert_eq!((status, body.as_str()), (401, "token"));
        }
        other => panic!("{other:?}"),
    }
}
