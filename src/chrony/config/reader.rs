//! The reader's state while a configuration is read, and one line's
//! arguments as chronyd reads them: what every directive's reader works
//! with (see [`super::directives`]).

use std::format;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

use super::include::Environment;
use super::scan::{self, Cursor};
use super::{Config, LineError, Location, SourceConfig};
use crate::server::RateLimit;

/// The options a rate limit takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RateOptions {
    /// `interval`, `burst`, `leak` (chronyd 4.3's).
    Plain,
    /// Those and `kod` (chrony 4.4's, for `ratelimit`).
    WithKod,
}

/// The arguments of one directive line (normalised: words separated by
/// one space).
pub(super) struct Args<'a> {
    /// The directive.
    pub directive: &'static str,
    text: &'a str,
    cursor: Cursor<'a>,
}

impl<'a> Args<'a> {
    pub fn new(directive: &'static str, text: &'a str) -> Self {
        Args {
            directive,
            text,
            cursor: Cursor::new(text),
        }
    }

    /// Everything after the directive.
    pub fn rest(&self) -> &'a str {
        self.text
    }

    /// How many words.
    pub fn count(&self) -> usize {
        scan::count(self.text)
    }

    /// The line has exactly `n` words (chronyd's "Missing/Too many
    /// arguments").
    pub fn expect(&self, n: usize, what: &'static str) -> Result<(), LineError> {
        let mut words = scan::words(self.text);
        match self.count() {
            c if c < n => Err(self.missing(what)),
            c if c > n => Err(LineError::Extra {
                directive: self.directive,
                extra: words.nth(n).unwrap_or_default().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The next word.
    pub fn word(&mut self, what: &'static str) -> Result<&'a str, LineError> {
        self.cursor.word().ok_or_else(|| self.missing(what))
    }

    /// The cursor over the arguments, for option streams.
    pub fn cursor(&mut self) -> &mut Cursor<'a> {
        &mut self.cursor
    }

    /// One word, as a string.
    pub fn string(&self) -> Result<&'a str, LineError> {
        self.expect(1, "a value")?;
        Ok(self.text)
    }

    /// No words.
    pub fn none(&self) -> Result<(), LineError> {
        self.expect(0, "nothing")
    }

    /// One word read as `sscanf("%d")` reads it.
    pub fn int(&self) -> Result<i32, LineError> {
        self.expect(1, "a number")?;
        Cursor::new(self.text)
            .int()
            .ok_or_else(|| self.bad(self.text, "number"))
    }

    /// One word read as `sscanf("%lf")` reads it.
    pub fn double(&self) -> Result<f64, LineError> {
        self.expect(1, "a number")?;
        Cursor::new(self.text)
            .double()
            .ok_or_else(|| self.bad(self.text, "number"))
    }

    pub fn missing(&self, what: &'static str) -> LineError {
        LineError::Missing {
            directive: self.directive,
            what,
        }
    }

    pub fn bad(&self, value: &str, what: &'static str) -> LineError {
        LineError::BadValue {
            directive: self.directive,
            what,
            value: value.to_string(),
        }
    }

    pub fn unknown(&self, option: &str) -> LineError {
        LineError::UnknownOption {
            directive: self.directive,
            option: option.to_string(),
        }
    }

    /// One word: a path.
    pub fn path(&self) -> Result<PathBuf, LineError> {
        self.string().map(PathBuf::from)
    }

    /// `ratelimit`, `cmdratelimit`, `ntsratelimit`: `interval N`, `burst
    /// N`, `leak N` (and `kod N`, chrony 4.4's, with [`RateOptions::WithKod`]),
    /// each value read as `sscanf("%d%n")` from where the option ends.
    /// Out-of-range values are clamped to [`RateLimit`]'s ranges, as the
    /// server clamps them.
    pub fn rate_limit(&mut self, options: RateOptions) -> Result<RateLimit, LineError> {
        let mut limit = RateLimit::default();
        while let Some(option) = self.cursor.word() {
            let lower = option.to_ascii_lowercase();
            let value = match (lower.as_str(), options) {
                ("interval" | "burst" | "leak", _) | ("kod", RateOptions::WithKod) => {
                    self.cursor.int()
                }
                _ => return Err(self.unknown(option)),
            }
            .ok_or_else(|| self.bad(self.cursor.rest(), "number"))?;
            match lower.as_str() {
                "interval" => limit.interval = value.clamp(-19, 12) as i8,
                "burst" => limit.burst = value.clamp(1, 255) as u8,
                "leak" => limit.leak = value.clamp(1, 4) as u8,
                _ => limit.kod = value.clamp(0, 4) as u8,
            }
        }
        Ok(limit)
    }
}

/// What has been read of a configuration so far.
pub(super) struct Reader<'e> {
    /// Where files are read and names resolved.
    pub env: &'e dyn Environment,
    /// The configuration so far.
    pub config: Config,
    /// The sources of `sourcedir` files, added at the end.
    pub dir_sources: Vec<SourceConfig>,
    /// Where `ratelimit`, `cmdratelimit` or `ntsratelimit` was last set
    /// (for the `noclientlog` conflict).
    pub ratelimit_at: Option<Location>,
    /// Where `rtcfile` was last set (for the `rtcsync` conflict).
    pub rtcfile_at: Option<Location>,
    /// The last `ntsservercert` or `ntsserverkey` (they must pair up).
    pub nts_server_at: Option<Location>,
    /// What the current line does not act on.
    pub notes: Vec<String>,
}

impl<'e> Reader<'e> {
    pub fn new(env: &'e dyn Environment) -> Self {
        Reader {
            env,
            config: Config::default(),
            dir_sources: Vec::new(),
            ratelimit_at: None,
            rtcfile_at: None,
            nts_server_at: None,
            notes: Vec::new(),
        }
    }

    /// Something the current line does not act on.
    pub fn note(&mut self, message: String) {
        self.notes.push(message);
    }

    /// A port (`port`, `cmdport`, `ntsport`, `acquisitionport`): one
    /// number; one chronyd takes but no port can be is noted, and `None`
    /// returned (the earlier value stays).
    pub fn port(&mut self, args: &Args<'_>) -> Result<Option<u16>, LineError> {
        let port = args.int()?;
        let port = u16::try_from(port).ok().or_else(|| {
            self.out_of_range(args.directive, port, "0..65535", "the previous port");
            None
        });
        Ok(port)
    }

    /// A value ntpkit cannot use: `used` is used instead.
    pub fn out_of_range(
        &mut self,
        name: &str,
        value: impl std::fmt::Display,
        range: &str,
        used: &str,
    ) {
        self.note(format!(
            "`{name} {value}` is outside {range}: ntpkit uses {used}"
        ));
    }
}
