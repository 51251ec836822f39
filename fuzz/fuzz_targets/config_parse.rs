//! Any bytes as a chrony.conf: the parser returns a configuration or an
//! error naming a line of the input, never panics, and what it accepts it
//! prints (`chronyd -p`) as text that parses again to the same print.
//! No file is read and no name resolved (`Isolated`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::chrony::config::{Config, ConfigError, Isolated};
use ntpkit::linux::settings;

fuzz_target!(|data: &[u8]| {
    match Config::parse_bytes(data, "fuzz.conf", &Isolated) {
        Ok(config) => {
            let _ = settings::node_config(&config, -20);
            for warning in &config.warnings {
                assert!(warning.line >= 1);
                let _ = warning.to_string();
            }
            let printed = config.render();
            // Invalid UTF-8 becomes U+FFFD, which may lengthen a line past
            // chronyd's limit: check the round trip on text only.
            if std::str::from_utf8(data).is_ok() {
                let again = Config::parse_bytes(printed.as_bytes(), "printed.conf", &Isolated)
                    .expect("the printed configuration parses");
                assert_eq!(again.render(), printed);
            }
        }
        Err(ConfigError::Line { path, line, error }) => {
            assert_eq!(path, "fuzz.conf");
            let lines = data.split(|&b| b == b'\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            let _ = error.to_string();
        }
        Err(ConfigError::Io { .. }) => panic!("Isolated reads no file"),
        Err(_) => {}
    }
});
