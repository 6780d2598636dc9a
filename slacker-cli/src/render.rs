//! Text output: aligned tables and the readable form of an inspect answer.

use std::fmt::Write as _;

use slacker_core::inspect::InspectResponse;

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An inspect answer as text: server status, every function with its signature and doc, the
/// connected clients and the call statistics.
pub fn inspect(addr: &str, answer: &InspectResponse) -> String {
    let s = &answer.server;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "server {addr}: slacker {} (protocol {}), {} in flight, {} client(s)",
        s.version,
        s.protocol_version,
        s.in_flight,
        s.clients.len()
    );
    for ns in &answer.namespaces {
        let _ = writeln!(out, "\nnamespace {}", ns.name);
        if !ns.doc.is_empty() {
            let _ = writeln!(out, "  {}", ns.doc.replace('\n', "\n  "));
        }
        for f in &ns.functions {
            let args: Vec<String> = f.args.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            let _ = writeln!(out, "  {}({}) -> {}", f.name, args.join(", "), f.returns);
            if !f.doc.is_empty() {
                let _ = writeln!(out, "      {}", f.doc.replace('\n', "\n      "));
            }
        }
    }
    if !s.clients.is_empty() {
        let rows: Vec<Vec<String>> = s
            .clients
            .iter()
            .map(|c| {
                vec![
                    c.addr.clone(),
                    c.name.clone().unwrap_or_default(),
                    c.version.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let _ = write!(
            out,
            "\nclients\n{}",
            table(&["ADDRESS", "NAME", "VERSION"], &rows)
        );
    }
    if let Some(stats) = &answer.stats {
        let rows: Vec<Vec<String>> = stats
            .iter()
            .map(|st| {
                vec![
                    format!("{}/{}", st.namespace, st.function),
                    st.calls.to_string(),
                    st.errors.to_string(),
                    st.p50_us.to_string(),
                    st.p99_us.to_string(),
                    st.max_us.to_string(),
                ]
            })
            .collect();
        let _ = write!(
            out,
            "\nstats\n{}",
            table(
                &["FUNCTION", "CALLS", "ERRORS", "P50_US", "P99_US", "MAX_US"],
                &rows
            )
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["long cell".into(), "x".into()],
                vec!["y".into(), "z".into()],
            ],
        );
        assert_eq!(t, "A          BB\nlong cell  x\ny          z\n");
    }
}
