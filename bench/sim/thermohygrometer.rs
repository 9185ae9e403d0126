//! The simulated thermo-hygrometer: a simple ASCII instrument that qbench knows only through
//! the device profile `fixtures/profiles/qbench-thermohygrometer.yaml` (no Rust driver).
//!
//! Requests and answers are lines ended by CR. Every answer ends with `*` and two
//! upper-case hexadecimal digits, the XOR of the bytes before the `*`; a request may carry
//! one too, and one with a wrong checksum is answered `ERR checksum`.
//!
//! | request    | answer                         |
//! |------------|--------------------------------|
//! | `I`        | `ID qbench TH-1 <serial> 1.0`  |
//! | `T`        | `T=23.00 C`                    |
//! | `H`        | `H=50.0 %RH`                   |
//! | `AVG <n>`  | `AVG=<n> s` (1 to 60 s, integer), else `ERR range` |
//! | `AVG?`     | `AVG=<n> s`                    |
//! | `HOLD`     | `OK` (freezes the display)     |
//! | other      | `ERR unknown command`          |

use super::config::ThermohygrometerConfig;
use super::framed::{FramedDevice, split_line};

/// The byte ending every line.
const CR: u8 = b'\r';

/// The simulated thermo-hygrometer.
pub(crate) struct Thermohygrometer {
    config: ThermohygrometerConfig,
    averaging: u32,
}

impl Thermohygrometer {
    pub(crate) fn new(config: ThermohygrometerConfig) -> Self {
        Thermohygrometer {
            config,
            averaging: 1,
        }
    }

    fn reply(&mut self, body: &str) -> String {
        let body = body.trim();
        match body {
            "I" => format!("ID qbench TH-1 {} 1.0", self.config.serial),
            "T" => format!("T={:.2} C", self.config.temperature),
            "H" => format!("H={:.1} %RH", self.config.humidity),
            "AVG?" => format!("AVG={} s", self.averaging),
            "HOLD" => "OK".into(),
            _ => match body.strip_prefix("AVG ").map(|v| v.trim().parse::<u32>()) {
                Some(Ok(n)) if (1..=60).contains(&n) => {
                    self.averaging = n;
                    format!("AVG={n} s")
                }
                Some(_) => "ERR range".into(),
                None => "ERR unknown command".into(),
            },
        }
    }
}

/// XOR of `bytes`, as two upper-case hexadecimal digits.
pub(crate) fn xor_hex(bytes: &[u8]) -> String {
    format!("{:02X}", bytes.iter().fold(0u8, |a, b| a ^ b))
}

impl FramedDevice for Thermohygrometer {
    fn next_request(&self, pending: &[u8]) -> Option<(usize, usize)> {
        split_line(pending, CR)
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(request);
        let text = text.trim_matches(|c| c == '\n' || c == ' ');
        if text.is_empty() {
            return None;
        }
        let reply = match text.rsplit_once('*') {
            Some((body, sum)) if sum.len() == 2 => {
                if xor_hex(body.as_bytes()).eq_ignore_ascii_case(sum) {
                    self.reply(body)
                } else {
                    "ERR checksum".into()
                }
            }
            _ => self.reply(text),
        };
        Some(format!("{reply}*{}\r", xor_hex(reply.as_bytes())).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(t: &mut Thermohygrometer, text: &str) -> String {
        String::from_utf8(t.answer(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn answers_with_checksums() {
        let mut t = Thermohygrometer::new(ThermohygrometerConfig::default());
        let a = ask(&mut t, "T");
        assert!(a.starts_with("T=23.00 C*"), "{a}");
        let (body, sum) = a.trim_end().rsplit_once('*').unwrap();
        assert_eq!(xor_hex(body.as_bytes()), sum);
        assert!(ask(&mut t, "AVG 10").starts_with("AVG=10 s*"));
        assert!(ask(&mut t, "AVG 0").starts_with("ERR range*"));
        assert!(ask(&mut t, "AVG?").starts_with("AVG=10 s*"));
        assert!(ask(&mut t, &format!("H*{}", xor_hex(b"H"))).starts_with("H=50.0 %RH*"));
        assert!(ask(&mut t, "H*00").starts_with("ERR checksum*"));
        assert!(ask(&mut t, "X").starts_with("ERR unknown command*"));
    }
}
