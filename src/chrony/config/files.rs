//! Reading a configuration's files: each line to its directive's reader,
//! `include`, `confdir` and `sourcedir`, and what chronyd refuses once all
//! is read.

use std::format;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

use super::directives::{self, Reading};
use super::include;
use super::print::Printed;
use super::reader::{Args, Reader};
use super::scan;
use super::sources::{self, Origin};
use super::{Config, ConfigError, LineError, Location, Warning, MAX_INCLUDE_DEPTH};

impl Reader<'_> {
    /// The lines of a configuration file.
    pub fn file(&mut self, text: &[u8], path: &str, depth: usize) -> Result<(), ConfigError> {
        for raw in scan::lines(text) {
            let at = Location {
                path: path.to_string(),
                line: raw.number,
            };
            if raw.too_long {
                return Err(ConfigError::at(&at, LineError::TooLong));
            }
            let Some(line) = scan::normalize(raw.bytes) else {
                continue;
            };
            self.line(&line, &at, depth)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str, at: &Location, depth: usize) -> Result<(), ConfigError> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let directive = directives::find(word)
            .ok_or_else(|| ConfigError::at(at, LineError::UnknownDirective(word.to_string())))?;
        let read = match directive.reading {
            Reading::Files => return self.include(directive.name, line, rest, at, depth),
            Reading::Line(read) => read,
        };
        self.config.lines.push(Printed::line(line));
        let mut args = Args::new(directive.name, rest);
        read(self, &mut args, at).map_err(|e| ConfigError::at(at, e))?;
        if let Some(why) = directive.not_acted_on {
            let name = directive.name;
            self.notes
                .insert(0, format!("`{name}` is not acted on: {why}"));
        }
        self.flush(directive.name, at);
        Ok(())
    }

    /// The warning of the line just read, if something is not acted on.
    pub(super) fn flush(&mut self, directive: &'static str, at: &Location) {
        if self.notes.is_empty() {
            return;
        }
        let message = std::mem::take(&mut self.notes).join("; ");
        self.config.warnings.push(Warning {
            path: at.path.clone(),
            line: at.line,
            directive,
            message,
        });
    }

    fn include(
        &mut self,
        name: &'static str,
        line: &str,
        rest: &str,
        at: &Location,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let error = |e| ConfigError::at(at, e);
        let args = Args::new(name, rest);
        match name {
            "include" => {
                args.expect(1, "a file or pattern").map_err(error)?;
                let files = include::glob(self.env, rest).map_err(error)?;
                self.nested(files, depth, at)
            }
            "confdir" => {
                let dirs: Vec<&str> = scan::words(rest).collect();
                if dirs.is_empty() || dirs.len() > include::MAX_DIRS {
                    return Err(error(args.bad(rest, "list of 1 to 10 directories")));
                }
                let files = include::search_dirs(self.env, &dirs, ".conf");
                self.nested(files, depth, at)
            }
            _ => {
                self.config.lines.push(Printed::line(line));
                let dirs: Vec<&str> = scan::words(rest).collect();
                if dirs.len() > include::MAX_DIRS {
                    self.note(format!(
                        "`sourcedir` is not acted on: more than {} directories (chronyd reads none of them either)",
                        include::MAX_DIRS
                    ));
                } else {
                    for file in include::search_dirs(self.env, &dirs, ".sources") {
                        self.sources_file(&file);
                    }
                }
                self.flush(name, at);
                Ok(())
            }
        }
    }

    /// The files of an `include` or `confdir`.
    fn nested(
        &mut self,
        files: Vec<PathBuf>,
        depth: usize,
        at: &Location,
    ) -> Result<(), ConfigError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(at, LineError::TooDeep(MAX_INCLUDE_DEPTH)));
        }
        for file in files {
            let name = file.display().to_string();
            let text = self.env.read(&file).map_err(|e| {
                ConfigError::at(
                    at,
                    LineError::Include {
                        path: name.clone(),
                        reason: e.to_string(),
                    },
                )
            })?;
            if let Some(text) = text {
                self.file(&text, &name, depth + 1)?;
            }
        }
        Ok(())
    }

    /// A `*.sources` file: `server`, `pool` and `peer` lines, each ended
    /// by a newline. chronyd skips every other line, so does ntpkit, with
    /// a warning.
    fn sources_file(&mut self, file: &std::path::Path) {
        let name = file.display().to_string();
        let text = match self.env.read(file) {
            Ok(Some(text)) => text,
            Ok(None) => return,
            Err(e) => {
                self.config.warnings.push(Warning {
                    path: name,
                    line: 0,
                    directive: "sourcedir",
                    message: format!("cannot read it ({e}): its sources are not used"),
                });
                return;
            }
        };
        for raw in scan::lines(&text) {
            let at = Location {
                path: name.clone(),
                line: raw.number,
            };
            let Some(line) = scan::normalize(raw.bytes) else {
                continue;
            };
            let skipped = |why: String| Warning {
                path: at.path.clone(),
                line: at.line,
                directive: "sourcedir",
                message: format!("skipped, as chronyd skips it: {why}"),
            };
            if !raw.ended {
                self.config
                    .warnings
                    .push(skipped("the line is not ended by a newline".into()));
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
            let kind = ["server", "pool", "peer"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(word));
            let Some(kind) = kind else {
                self.config.warnings.push(skipped(format!(
                    "only server, pool and peer lines are read from sources files, not `{word}`"
                )));
                continue;
            };
            match sources::parse(kind, rest, &at) {
                Err(e) => self.config.warnings.push(skipped(e.to_string())),
                Ok(parsed) => {
                    self.config.lines.push(Printed::line(&line));
                    self.add_source(kind, parsed, &at, Origin::SourcesFile);
                }
            }
        }
    }

    /// The end of the configuration.
    pub fn finish(mut self) -> Result<Config, ConfigError> {
        // What chronyd 4.3 refuses at start-up.
        // Any rate limiting needs the client log.
        if let (true, Some(at)) = (self.config.noclientlog, &self.ratelimit_at) {
            return Err(ConfigError::at(
                at,
                LineError::Conflict("rate limiting cannot be used with noclientlog"),
            ));
        }
        if let (true, Some(at)) = (self.config.rtcsync, &self.rtcfile_at) {
            return Err(ConfigError::at(
                at,
                LineError::Conflict("rtcfile cannot be used with rtcsync"),
            ));
        }
        let auth = &self.config.auth;
        if auth.nts_server_certs.len() != auth.nts_server_keys.len() {
            if let Some(at) = &self.nts_server_at {
                return Err(ConfigError::at(
                    at,
                    LineError::Conflict(
                        "ntsservercert and ntsserverkey must be given the same number of times",
                    ),
                ));
            }
        }
        // chronyd adds the sources of sourcedir files after the others,
        // sorted by name.
        self.dir_sources
            .sort_by(|a, b| a.host.as_bytes().cmp(b.host.as_bytes()));
        self.config.sources.append(&mut self.dir_sources);
        Ok(self.config)
    }
}
