//! `chronyd -p`: the configuration as parsed.

use std::string::{String, ToString};

/// One printed line: a directive and its arguments, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Printed {
    text: String,
}

impl Printed {
    pub fn line(text: &str) -> Printed {
        Printed {
            text: text.to_string(),
        }
    }
}

/// The lines, each ended by a newline.
pub(super) fn render(lines: &[Printed]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn one_line_each() {
        let lines: Vec<Printed> = ["server a iburst", "port 0"]
            .iter()
            .map(|l| Printed::line(l))
            .collect();
        assert_eq!(render(&lines), "server a iburst\nport 0\n");
        assert_eq!(render(&[]), "");
    }
}
