//! chronyd's temperature compensation (`tempcomp`): a sensor's reading
//! becomes a frequency compensation in ppm, from chrony.conf's quadratic
//! (`k0 + (T − T0)·k1 + (T − T0)²·k2`) or from a file of (temperature,
//! compensation) points, interpolated between the two nearest and
//! extrapolated beyond the ends. A compensation over
//! [`MAX_COMPENSATION`] is not applied.
//!
//! ```
//! use ntpkit::chrony::config::TempCompCurve;
//! use ntpkit::chrony::tempcomp::Compensation;
//!
//! let curve = TempCompCurve::Quadratic { t0: 26000.0, k0: 0.0, k1: 0.000183, k2: 0.0 };
//! let compensation = Compensation::new(&curve)?;
//! assert!((compensation.at(27000.0) - 0.183).abs() < 1e-12);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::format;
use std::io;
use std::path::Path;
use std::vec::Vec;

use super::config::scan::Cursor;
use super::config::TempCompCurve;

/// The largest compensation applied, ppm either way (chronyd's sanity
/// limit: a reading that gives more is ignored, with a warning).
pub const MAX_COMPENSATION: f64 = 10.0;

/// A `tempcomp` curve, its points read.
#[derive(Debug, Clone, PartialEq)]
pub enum Compensation {
    /// `k0 + (T − T0)·k1 + (T − T0)²·k2`.
    Quadratic {
        /// `T0`.
        t0: f64,
        /// `k0`.
        k0: f64,
        /// `k1`.
        k1: f64,
        /// `k2`.
        k2: f64,
    },
    /// (temperature, compensation) points in the file's order (at least
    /// two).
    Points(Vec<(f64, f64)>),
}

impl Compensation {
    /// The curve `curve` describes; a points file is read now. An error
    /// names the file (and the line).
    pub fn new(curve: &TempCompCurve) -> io::Result<Compensation> {
        Ok(match *curve {
            TempCompCurve::Quadratic { t0, k0, k1, k2 } => {
                Compensation::Quadratic { t0, k0, k1, k2 }
            }
            TempCompCurve::Points(ref path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Compensation::Points(
                    parse_points(&text, path)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
                )
            }
        })
    }

    /// The compensation for a reading of `temperature`, ppm (positive: the
    /// clock is made to run faster).
    pub fn at(&self, temperature: f64) -> f64 {
        match self {
            Compensation::Quadratic { t0, k0, k1, k2 } => {
                let d = temperature - t0;
                k0 + d * k1 + d * d * k2
            }
            Compensation::Points(points) => {
                // The first point at or above the temperature (the last
                // beyond them all) and the one before it.
                let i = (1..points.len())
                    .find(|&i| points[i].0 >= temperature)
                    .unwrap_or(points.len() - 1);
                let ((t1, c1), (t2, c2)) = (points[i - 1], points[i]);
                (temperature - t1) / (t2 - t1) * (c2 - c1) + c1
            }
        }
    }
}

/// The points of a points file: a temperature and a compensation on each
/// line, at least two lines. An error names `path` and the line.
pub fn parse_points(text: &str, path: &Path) -> Result<Vec<(f64, f64)>, std::string::String> {
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut cursor = Cursor::new(line);
        match (cursor.double(), cursor.double()) {
            (Some(temperature), Some(compensation)) => points.push((temperature, compensation)),
            _ => {
                return Err(format!(
                    "{}:{}: not a temperature and a compensation: {line:?}",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    if points.len() < 2 {
        return Err(format!(
            "{}: not enough points (two at least)",
            path.display()
        ));
    }
    Ok(points)
}

/// A sensor's reading: the number its file starts with (as sysfs writes
/// `26500\n`), if any.
pub fn parse_reading(text: &str) -> Option<f64> {
    Cursor::new(text.trim_start()).double()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratic() {
        let c = Compensation::new(&TempCompCurve::Quadratic {
            t0: 20.0,
            k0: 1.0,
            k1: 0.5,
            k2: 0.25,
        })
        .unwrap();
        assert_eq!(c.at(20.0), 1.0);
        assert_eq!(c.at(22.0), 1.0 + 1.0 + 1.0);
        assert_eq!(c.at(18.0), 1.0 - 1.0 + 1.0);
    }

    #[test]
    fn points_interpolate_and_extrapolate() {
        let path = Path::new("/etc/chrony.tempcomp");
        let points = parse_points("20000 -1.0\n21000 -0.64\n25000 1.0\n", path).unwrap();
        let c = Compensation::Points(points);
        assert!((c.at(20500.0) - -0.82).abs() < 1e-12);
        assert!((c.at(23000.0) - 0.18).abs() < 1e-12);
        assert_eq!(c.at(21000.0), -0.64);
        // Beyond the ends: the nearest two points' line.
        assert!((c.at(19000.0) - -1.36).abs() < 1e-12);
        assert!((c.at(26000.0) - (1.0 + 1.64 / 4.0)).abs() < 1e-12);
    }

    #[test]
    fn bad_points_files_name_the_file_and_line() {
        let path = Path::new("/p");
        assert_eq!(
            parse_points("1 2\nthree 4\n", path).unwrap_err(),
            "/p:2: not a temperature and a compensation: \"three 4\""
        );
        assert_eq!(
            parse_points("1 2\n", path).unwrap_err(),
            "/p: not enough points (two at least)"
        );
        let missing = Compensation::new(&TempCompCurve::Points("/nonexistent/ntpkit".into()));
        let error = std::format!("{}", missing.unwrap_err());
        assert!(error.starts_with("/nonexistent/ntpkit: "), "{error}");
    }

    #[test]
    fn readings() {
        assert_eq!(parse_reading("26500\n"), Some(26500.0));
        assert_eq!(parse_reading("  0.0"), Some(0.0));
        assert_eq!(parse_reading("-3.5e1 x"), Some(-35.0));
        assert_eq!(parse_reading("n/a\n"), None);
        assert_eq!(parse_reading(""), None);
    }
}
