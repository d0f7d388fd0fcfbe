//! Logging to standard error. Every event is one line: control characters that arrive in
//! field values (a file name with a newline, an ANSI escape in a title) are escaped by the
//! writer itself, so nothing from outside can start a forged line or recolour the log,
//! whatever a call site formats.

use std::io::{IsTerminal, Write};

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    // actix-web's HTTP/1 dispatcher logs each malformed request at ERROR, one line per
    // request anyone can send; `http::client_errors` logs them instead, rate-limited per
    // client. Left on only when asked for by name.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("actix_http")) {
        use crate::http::client_errors::{DISPATCHER_TARGET, H2_DISPATCHER_TARGET};
        for target in [DISPATCHER_TARGET, H2_DISPATCHER_TARGET] {
            filter =
                filter.add_directive(format!("{target}=off").parse().expect("a valid directive"));
        }
    }
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(move || OneLine {
            out: std::io::stderr(),
            ansi,
        });
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes each formatted event (one `write` of a whole line) with its inner control
/// characters escaped; the final newline stays.
struct OneLine<W> {
    out: W,
    /// Our own colour codes are kept when writing to a terminal.
    ansi: bool,
}

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let mut line = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b'\t' => line.push(b'\t'),
                0x1b if self.ansi => line.push(b),
                0..=0x1f | 0x7f => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                _ => line.push(b),
            }
        }
        line.extend_from_slice(end);
        self.out.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_on_one_line() {
        let mut w = OneLine {
            out: Vec::new(),
            ansi: false,
        };
        w.write_all(b"INFO queued file=/inbox/evil\nERROR forged\x1b[31m\r\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(w.out).unwrap(),
            "INFO queued file=/inbox/evil\\nERROR forged\\x1b[31m\\r\n"
        );
    }
}
