//! A [`Driver`] for a device described by a DBC file (driver name `dbc`): no Rust needed.
//!
//! The fixture names the DBC file, which of its messages the bench sends (`commands:`) and
//! which it receives (`status:`), and binds procedure names to signals:
//!
//! ```yaml
//! options:
//!   dbc: fixtures/dbc/qbench_collimator.dbc
//!   commands: CollimatorCommand
//!   status: CollimatorStatus
//!   set.field_width: CollimatorCommand.TargetWidth       # a setting, in the signal's unit
//!   read.actual_field_width: CollimatorStatus.ActualWidth # a quantity
//!   action.move: CollimatorCommand.Command=1             # an action: signal values sent
//!   safe_action: close                                   # performed to reach the safe state
//!   timeout_ms: 500                                      # wait for a status frame, at most
//! ```
//!
//! Design decisions:
//!
//! - **A command message is sent whole.** A `set` or an action encodes the whole message:
//!   signals not named keep the value last sent (zero raw until then). For a multiplexed
//!   message only the signals of the page concerned are sent, with the multiplexor set to
//!   that page. The value a `set` returns is the value as encoded, rounded to the signal's
//!   resolution; a value outside the signal's raw range is refused before anything is sent.
//! - **A sample is the next frame.** An adapter gives no receive time stamps, so frames that
//!   waited in the adapter's queue cannot be told from fresh ones. `read` therefore discards
//!   what is queued and takes the value from the next frame of the message (of the signal's
//!   page, if it is multiplexed), waiting at most `timeout_ms`; none in time is
//!   [`DriverErrorKind::NoFreshMessage`], naming the message and when it was last seen.
//! - **Opening waits for every status message once**, so a device that is absent or silent is
//!   found before anything moves.
//! - **Identity**: a DBC-described device has no identity query; it is identified as the
//!   fixture declares it, the firmware field naming the DBC file.
//!
//! Everything the options say is checked against the DBC file by [`configure`], which fixture
//! validation calls: unknown messages and signals, a setting in a status message, units qbench
//! does not know, action values outside their signal's range.

use super::dbc::{DbcDatabase, DbcError, DecodedMessage, MessageSpec, Multiplexing, SignalSpec};
use super::{CanBus, CanError, CanFrame};
use crate::driver::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
};
use crate::link::{LinkError, LinkErrorKind};
use crate::units::{Quantity, Unit, parse_unit};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The driver's name in fixtures.
pub const NAME: &str = "dbc";

/// What the driver offers before it is configured: everything comes from the fixture.
pub const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "dbc_device",
    settings: &[],
    actions: &[],
    quantities: &[],
    events: &[],
};

/// How long a status frame is waited for unless `timeout_ms` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long a frame is sent for at most (the adapter's acknowledgement included).
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// The most frames discarded before a read: a device flooding the bus cannot stall it.
const DRAIN_LIMIT: usize = 4096;

/// A signal of a message, as an option names it (`CollimatorStatus.ActualWidth`).
#[derive(Clone, Debug, PartialEq)]
pub struct SignalRef {
    /// The message.
    pub message: String,
    /// The signal.
    pub signal: String,
    /// The signal's unit as qbench knows it.
    pub unit: Unit,
}

/// Names, each with its unit symbol.
pub type NamedUnits = Vec<(String, String)>;

/// One problem with the options, naming the option it is in.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionProblem {
    /// The option (`read.actual_field_width`).
    pub option: String,
    /// What is wrong.
    pub message: String,
}

/// A DBC-described device as the fixture configures it, checked against its DBC file.
#[derive(Clone, Debug)]
pub struct DbcDeviceConfig {
    /// The DBC file.
    pub path: PathBuf,
    /// Its messages.
    pub db: DbcDatabase,
    /// Messages the bench sends.
    pub commands: Vec<String>,
    /// Messages the bench receives.
    pub status: Vec<String>,
    /// Settings by name.
    pub settings: BTreeMap<String, SignalRef>,
    /// Quantities by name.
    pub quantities: BTreeMap<String, SignalRef>,
    /// Actions by name: the message and the signal values it sends.
    pub actions: BTreeMap<String, (String, Vec<(String, f64)>)>,
    /// The action that brings the device to its safe state.
    pub safe_action: Option<String>,
    /// How long a status frame is waited for.
    pub timeout: Duration,
}

impl DbcDeviceConfig {
    /// The settings, quantities and actions, with their unit symbols, for capabilities.
    pub fn names(&self) -> (NamedUnits, NamedUnits, Vec<String>) {
        let with_unit = |m: &BTreeMap<String, SignalRef>| {
            m.iter()
                .map(|(n, s)| (n.clone(), s.unit.symbol().to_string()))
                .collect()
        };
        (
            with_unit(&self.settings),
            with_unit(&self.quantities),
            self.actions.keys().cloned().collect(),
        )
    }
}

/// The unit of a DBC signal as qbench knows it (DBC files write ASCII: `degC`, `us`).
pub fn signal_unit(unit: &str) -> Result<Unit, String> {
    let ascii = match unit.trim() {
        "us" => "µs",
        "uGy" => "µGy",
        "uA" => "µA",
        other => other,
    };
    parse_unit(ascii).map_err(|e| format!("unit `{unit}` of the DBC file: {e}"))
}

/// Reads the options and the DBC file they name, and checks every name against it.
/// Every problem is reported, each naming its option.
pub fn configure(
    options: &BTreeMap<String, String>,
) -> Result<DbcDeviceConfig, Vec<OptionProblem>> {
    let mut problems = Vec::new();
    let mut problem = |option: &str, message: String| {
        problems.push(OptionProblem {
            option: option.to_string(),
            message,
        })
    };
    for key in options.keys() {
        let known = ["dbc", "commands", "status", "safe_action", "timeout_ms"];
        let prefixed = ["set.", "read.", "action."]
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|n| !n.is_empty()));
        if !known.contains(&key.as_str()) && !prefixed {
            problem(
                key,
                format!(
                    "unknown option of the dbc driver (known: {}, set.NAME, read.NAME, action.NAME)",
                    known.join(", ")
                ),
            );
        }
    }
    let Some(path) = options.get("dbc").map(|p| PathBuf::from(p.trim())) else {
        problem("dbc", "required: the path of the device's DBC file".into());
        return Err(problems);
    };
    let db = match DbcDatabase::from_file(&path) {
        Ok(db) => db,
        Err(e) => {
            problem("dbc", crate::runner::error_chain(&e));
            return Err(problems);
        }
    };
    let list = |key: &str| -> Vec<String> {
        options
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (commands, status) = (list("commands"), list("status"));
    let names: Vec<&str> = db.messages().iter().map(|m| m.name.as_str()).collect();
    for (key, messages) in [("commands", &commands), ("status", &status)] {
        for m in messages {
            if db.message(m).is_none() {
                problem(key, unknown_message(m, &names));
            }
        }
    }
    if let Some(m) = commands.iter().find(|m| status.contains(m)) {
        problem(
            "status",
            format!("message `{m}` cannot be both a command and a status"),
        );
    }
    if status.is_empty()
        && (options.keys().any(|k| k.starts_with("read.")) || options.get("status").is_some())
    {
        problem(
            "status",
            "name the messages the device sends (`status: MessageName`)".into(),
        );
    }
    let mut settings = BTreeMap::new();
    let mut quantities = BTreeMap::new();
    let mut actions = BTreeMap::new();
    for (key, value) in options {
        if let Some(name) = key.strip_prefix("set.") {
            match signal_ref(&db, value, &commands, "commands") {
                Ok(s) => {
                    settings.insert(name.to_string(), s);
                }
                Err(e) => problem(key, e),
            }
        } else if let Some(name) = key.strip_prefix("read.") {
            match signal_ref(&db, value, &status, "status") {
                Ok(s) => {
                    quantities.insert(name.to_string(), s);
                }
                Err(e) => problem(key, e),
            }
        } else if let Some(name) = key.strip_prefix("action.") {
            match action(&db, value, &commands) {
                Ok(a) => {
                    actions.insert(name.to_string(), a);
                }
                Err(e) => problem(key, e),
            }
        }
    }
    let safe_action = options.get("safe_action").map(|a| a.trim().to_string());
    if let Some(a) = &safe_action
        && !actions.contains_key(a)
    {
        problem(
            "safe_action",
            format!("no action `{a}` (declare it as `action.{a}`)"),
        );
    }
    let timeout = match options.get("timeout_ms").map(|t| t.trim().parse::<u64>()) {
        None => DEFAULT_TIMEOUT,
        Some(Ok(ms)) if (1..=600_000).contains(&ms) => Duration::from_millis(ms),
        Some(_) => {
            problem(
                "timeout_ms",
                "a whole number of milliseconds, 1 to 600000".into(),
            );
            DEFAULT_TIMEOUT
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(DbcDeviceConfig {
        path,
        db,
        commands,
        status,
        settings,
        quantities,
        actions,
        safe_action,
        timeout,
    })
}

fn unknown_message(name: &str, known: &[&str]) -> String {
    let hint = crate::procedure::did_you_mean(name, known.iter().copied())
        .map(|s| format!("\ndid you mean `{s}`?"))
        .unwrap_or_else(|| format!("\nmessages: {}", known.join(", ")));
    format!("the DBC file has no message `{name}`{hint}")
}

/// Resolves `Message.Signal`, which must be in one of `allowed` (the `list` option).
fn signal_ref(
    db: &DbcDatabase,
    text: &str,
    allowed: &[String],
    list: &str,
) -> Result<SignalRef, String> {
    let (message, signal) = text
        .trim()
        .split_once('.')
        .ok_or_else(|| format!("`{text}` is not `Message.Signal`"))?;
    let m = find_signal(db, message, signal)?;
    if !allowed.iter().any(|a| a == message) {
        return Err(format!(
            "message `{message}` is not listed in `{list}:` ({})",
            if list == "commands" {
                "settings and actions send command messages"
            } else {
                "quantities are read from status messages"
            }
        ));
    }
    Ok(SignalRef {
        message: message.to_string(),
        signal: signal.to_string(),
        unit: signal_unit(&m.unit)?,
    })
}

fn find_signal<'a>(
    db: &'a DbcDatabase,
    message: &str,
    signal: &str,
) -> Result<&'a SignalSpec, String> {
    let names: Vec<&str> = db.messages().iter().map(|m| m.name.as_str()).collect();
    let m = db
        .message(message)
        .ok_or_else(|| unknown_message(message, &names))?;
    m.signals.iter().find(|s| s.name == signal).ok_or_else(|| {
        let hint =
            crate::procedure::did_you_mean(signal, m.signals.iter().map(|s| s.name.as_str()))
                .map(|s| format!("\ndid you mean `{s}`?"))
                .unwrap_or_default();
        format!("message `{message}` has no signal `{signal}`{hint}")
    })
}

/// Resolves `Message.Signal=value, Message.Signal=value` (one message).
fn action(
    db: &DbcDatabase,
    text: &str,
    commands: &[String],
) -> Result<(String, Vec<(String, f64)>), String> {
    let mut message: Option<String> = None;
    let mut values = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (target, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not `Message.Signal=value`"))?;
        let s = signal_ref(db, target, commands, "commands")?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a number", value.trim()))?;
        let spec = find_signal(db, &s.message, &s.signal)?;
        within_stated_range(spec, value).map_err(|e| e.to_string())?;
        match &message {
            Some(m) if *m != s.message => {
                return Err(format!(
                    "an action sends one message, not both `{m}` and `{}`",
                    s.message
                ));
            }
            _ => message = Some(s.message.clone()),
        }
        values.push((s.signal, value));
    }
    let message = message.ok_or_else(|| "an action needs `Message.Signal=value`".to_string())?;
    Ok((message, values))
}

/// Checks `value` against the signal's raw range and the physical range its DBC file states
/// (`[0|2]`; `[0|0]` states none), the device's own declaration of what it accepts.
pub fn within_stated_range(spec: &SignalSpec, value: f64) -> Result<u64, DbcError> {
    let stated = !(spec.min == 0.0 && spec.max == 0.0);
    // Half a step of tolerance: a value that rounds onto a limit is within it.
    let half = spec.factor.abs() / 2.0;
    if stated && !(value >= spec.min - half && value <= spec.max + half) {
        return Err(DbcError::OutOfRange {
            signal: spec.name.clone(),
            value,
            min: spec.min,
            max: spec.max,
        });
    }
    spec.to_raw(value)
}

/// A DBC-described device on a CAN bus.
pub struct DbcDevice {
    bus: Box<dyn CanBus>,
    config: DbcDeviceConfig,
    identity: Identity,
    /// Physical values last sent, by message then signal (the multiplexor excluded).
    sent: BTreeMap<String, BTreeMap<String, f64>>,
    /// Page last sent, by multiplexed message.
    page_sent: BTreeMap<String, u64>,
    /// When each status message (and page) was last seen.
    seen: BTreeMap<(String, Option<u64>), Instant>,
    opened: Instant,
    notes: Vec<String>,
}

fn driver_error(kind: DriverErrorKind) -> DriverError {
    DriverError::new(NAME, kind)
}

/// Maps a bus error onto the driver's kinds: a vanished adapter is a disconnected link.
fn bus_error(e: CanError) -> DriverError {
    let kind = if e.is_disconnected() {
        LinkErrorKind::Disconnected
    } else if e.is_timeout() {
        LinkErrorKind::Timeout
    } else {
        LinkErrorKind::Io
    };
    let bus = e.bus().to_string();
    driver_error(DriverErrorKind::Link(LinkError::new(
        kind,
        &bus,
        e.to_string(),
    )))
}

impl DbcDevice {
    /// Takes the device on `bus` into use: waits for one frame of every status message (the
    /// device is there and speaks its DBC). `identity` is the fixture's declaration.
    pub fn open(
        bus: Box<dyn CanBus>,
        config: DbcDeviceConfig,
        identity: Identity,
    ) -> Result<DbcDevice, DriverError> {
        let mut device = DbcDevice {
            bus,
            identity,
            sent: BTreeMap::new(),
            page_sent: BTreeMap::new(),
            seen: BTreeMap::new(),
            opened: Instant::now(),
            notes: Vec::new(),
            config,
        };
        for message in device.config.status.clone() {
            device.next_frame(&message, None)?;
        }
        Ok(device)
    }

    /// The configuration the device was opened with.
    pub fn config(&self) -> &DbcDeviceConfig {
        &self.config
    }

    fn message(&self, name: &str) -> Result<&MessageSpec, DriverError> {
        self.config.db.message(name).ok_or_else(|| {
            driver_error(DriverErrorKind::Unsupported {
                what: format!("message `{name}`"),
            })
        })
    }

    /// Sends `message` with `values` (physical, by signal), the signals not named keeping the
    /// value last sent. Returns the frame sent.
    fn send(&mut self, message: &str, values: &[(String, f64)]) -> Result<CanFrame, DriverError> {
        let spec = self.message(message)?.clone();
        let kind_of = |name: &str| {
            spec.signals
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.multiplexing)
        };
        // The page: the one a named multiplexed signal needs, else the one last sent.
        let page = values
            .iter()
            .find_map(|(n, _)| match kind_of(n) {
                Some(Multiplexing::Multiplexed(p)) => Some(p),
                _ => None,
            })
            .or_else(|| self.page_sent.get(message).copied());
        let mut merged: BTreeMap<String, f64> = self
            .sent
            .get(message)
            .map(|kept| {
                kept.iter()
                    .filter(|(n, _)| match kind_of(n) {
                        Some(Multiplexing::Multiplexed(p)) => Some(p) == page,
                        Some(Multiplexing::Plain) => true,
                        _ => false,
                    })
                    .map(|(n, v)| (n.clone(), *v))
                    .collect()
            })
            .unwrap_or_default();
        for (n, v) in values {
            merged.insert(n.clone(), *v);
        }
        let mut pairs: Vec<(&str, f64)> = merged.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let has_switch = spec
            .signals
            .iter()
            .any(|s| s.multiplexing == Multiplexing::Multiplexor);
        let switch_name = spec
            .signals
            .iter()
            .find(|s| s.multiplexing == Multiplexing::Multiplexor)
            .map(|s| s.name.clone());
        if let (Some(p), Some(name)) = (page, &switch_name)
            && !merged.contains_key(name)
        {
            pairs.push((name.as_str(), p as f64));
        }
        let frame = self
            .config
            .db
            .encode(message, &pairs)
            .map_err(|e| dbc_error(message, e))?;
        self.bus.send(&frame, SEND_TIMEOUT).map_err(bus_error)?;
        let kept = self.sent.entry(message.to_string()).or_default();
        for (n, v) in merged {
            if Some(&n) != switch_name.as_ref() {
                kept.insert(n, v);
            }
        }
        if has_switch && let Some(p) = page {
            self.page_sent.insert(message.to_string(), p);
        }
        Ok(frame)
    }

    /// Discards what waits in the adapter's queue, noting when each status message was seen.
    fn drain(&mut self) -> Result<(), DriverError> {
        for _ in 0..DRAIN_LIMIT {
            match self.bus.receive(Duration::from_millis(1)) {
                Ok(frame) => {
                    self.note_frame(&frame);
                }
                Err(e) if e.is_timeout() => return Ok(()),
                Err(e) => self.bus_trouble(e)?,
            }
        }
        Ok(())
    }

    /// A bus error that leaves the bus usable (a garbled line) is noted; others are returned.
    fn bus_trouble(&mut self, e: CanError) -> Result<(), DriverError> {
        match e {
            CanError::Garbled { .. } => {
                self.notes.push(e.to_string());
                Ok(())
            }
            other => Err(bus_error(other)),
        }
    }

    /// Decodes a received frame if it is one of the status messages, noting when it came;
    /// with its multiplexor's value, if it has one.
    fn note_frame(&mut self, frame: &CanFrame) -> Option<(DecodedMessage, Option<u64>)> {
        let decoded = match self.config.db.decode(frame) {
            Ok(Some(d)) if self.config.status.contains(&d.name) => d,
            Ok(_) => return None,
            Err(e) => {
                self.notes.push(format!("undecodable frame {frame}: {e}"));
                return None;
            }
        };
        let m = self.config.db.message(&decoded.name)?;
        let page = m
            .signals
            .iter()
            .find(|s| s.multiplexing == Multiplexing::Multiplexor)
            .and_then(|s| decoded.signal(&s.name))
            .map(|s| s.raw as u64);
        let now = Instant::now();
        self.seen.insert((decoded.name.clone(), None), now);
        if let Some(p) = page {
            self.seen.insert((decoded.name.clone(), Some(p)), now);
        }
        Some((decoded, page))
    }

    /// The next frame of status `message` (of multiplexor `page`, if given) received after the
    /// queue was emptied, within the configured timeout.
    fn next_frame(
        &mut self,
        message: &str,
        page: Option<u64>,
    ) -> Result<DecodedMessage, DriverError> {
        self.drain()?;
        let timeout = self.config.timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let last_seen = self
                    .seen
                    .get(&(message.to_string(), page))
                    .map(|t| millis(t.elapsed()));
                return Err(driver_error(DriverErrorKind::NoFreshMessage {
                    message: match page {
                        Some(p) => format!("{message} (page {p})"),
                        None => message.to_string(),
                    },
                    id: self
                        .config
                        .db
                        .message(message)
                        .map(|m| format!("{}h", m.id))
                        .unwrap_or_default(),
                    waited_ms: millis(timeout),
                    last_seen_ms: last_seen,
                    open_for_ms: millis(self.opened.elapsed()),
                }));
            }
            match self.bus.receive(remaining) {
                Ok(frame) => {
                    if let Some((d, has)) = self.note_frame(&frame)
                        && d.name == message
                        && (page.is_none() || page == has)
                    {
                        return Ok(d);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => self.bus_trouble(e)?,
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dbc_error(message: &str, e: DbcError) -> DriverError {
    match e {
        DbcError::OutOfRange {
            signal,
            value,
            min,
            max,
        } => driver_error(DriverErrorKind::OutOfRange {
            name: format!("{message}.{signal}"),
            value: value.to_string(),
            range: format!("{min} to {max} (the signal's range in its DBC file)"),
        }),
        other => driver_error(DriverErrorKind::Protocol {
            expected: format!("a frame of `{message}` as its DBC file describes it"),
            received: other.to_string(),
        }),
    }
}

fn unsupported(what: String) -> DriverError {
    driver_error(DriverErrorKind::Unsupported { what })
}

impl Driver for DbcDevice {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let file = self
            .config
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Identity {
            firmware: format!("not queried (described by {file})"),
            ..self.identity.clone()
        })
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let Some(s) = self.config.settings.get(name).cloned() else {
            let known: Vec<&str> = self.config.settings.keys().map(String::as_str).collect();
            return Err(unsupported(format!(
                "setting `{name}` (known: {})",
                known.join(", ")
            )));
        };
        let v = value.to_unit(&s.unit).map_err(|e| {
            driver_error(DriverErrorKind::BadValue {
                name: name.to_string(),
                source: Box::new(e),
            })
        })?;
        if let Some(spec) = self
            .config
            .db
            .message(&s.message)
            .and_then(|m| m.signals.iter().find(|x| x.name == s.signal))
        {
            within_stated_range(spec, v.value).map_err(|e| dbc_error(&s.message, e))?;
        }
        let frame = self.send(&s.message, &[(s.signal.clone(), v.value)])?;
        // The value as encoded: the signal's resolution is what reached the device.
        let sent = self
            .config
            .db
            .decode(&frame)
            .ok()
            .flatten()
            .and_then(|d| d.signal(&s.signal).map(|x| x.value))
            .unwrap_or(v.value);
        self.sent
            .entry(s.message.clone())
            .or_default()
            .insert(s.signal.clone(), sent);
        Ok(Quantity::new(sent, s.unit))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        let Some((message, values)) = self.config.actions.get(action).cloned() else {
            let known: Vec<&str> = self.config.actions.keys().map(String::as_str).collect();
            return Err(unsupported(format!(
                "action `{action}` (known: {})",
                known.join(", ")
            )));
        };
        self.send(&message, &values).map(|_| ())
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some(s) = self.config.quantities.get(quantity).cloned() else {
            let known: Vec<&str> = self.config.quantities.keys().map(String::as_str).collect();
            return Err(unsupported(format!(
                "quantity `{quantity}` (known: {})",
                known.join(", ")
            )));
        };
        let page = self
            .config
            .db
            .message(&s.message)
            .and_then(|m| m.signals.iter().find(|x| x.name == s.signal))
            .and_then(|x| match x.multiplexing {
                Multiplexing::Multiplexed(p) => Some(p),
                _ => None,
            });
        let decoded = self.next_frame(&s.message, page)?;
        let value = decoded.signal(&s.signal).map(|x| x.value).ok_or_else(|| {
            driver_error(DriverErrorKind::Protocol {
                expected: format!("signal `{}` in `{}`", s.signal, s.message),
                received: format!("a frame without it (page {page:?})"),
            })
        })?;
        Ok(Quantity::new(value, s.unit))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(format!("event {event:?}")))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        match self.config.safe_action.clone() {
            Some(action) => self.act(&action),
            None => Ok(()),
        }
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::can::{CanSimConfig, CollimatorConfig, SimCanBench};
    use crate::units::parse_quantity;

    fn options(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let dbc = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/dbc/qbench_collimator.dbc"
        );
        let mut o: BTreeMap<String, String> = [
            ("dbc", dbc),
            ("commands", "CollimatorCommand"),
            ("status", "CollimatorStatus"),
            ("set.field_width", "CollimatorCommand.TargetWidth"),
            ("set.field_height", "CollimatorCommand.TargetHeight"),
            ("set.filtration", "CollimatorCommand.FilterCu"),
            ("read.width", "CollimatorStatus.ActualWidth"),
            ("read.state", "CollimatorStatus.State"),
            ("read.temperature", "CollimatorStatus.HousingTemp"),
            ("read.filtration", "CollimatorStatus.ActualFilterCu"),
            ("action.move", "CollimatorCommand.Command=1"),
            ("action.close", "CollimatorCommand.Command=2"),
            ("safe_action", "close"),
            ("timeout_ms", "300"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            o.insert(k.to_string(), v.to_string());
        }
        o
    }

    fn bench(collimator: CollimatorConfig) -> SimCanBench {
        let config = CanSimConfig {
            collimator: Some(collimator),
            ..CanSimConfig::default()
        };
        SimCanBench::start(&config, 0, 10.0).expect("simulated bench")
    }

    fn open(bench: &SimCanBench) -> DbcDevice {
        let config = configure(&options(&[])).expect("valid options");
        DbcDevice::open(
            Box::new(bench.bus().endpoint()),
            config,
            Identity::default(),
        )
        .expect("the collimator is heard")
    }

    fn q(text: &str) -> Quantity {
        parse_quantity(text).unwrap()
    }

    #[test]
    fn options_are_checked_against_the_dbc_file() {
        let c = configure(&options(&[])).unwrap();
        let (settings, quantities, actions) = c.names();
        assert!(settings.contains(&("field_width".into(), "mm".into())));
        assert!(quantities.contains(&("temperature".into(), "degC".into())));
        assert_eq!(actions, ["close", "move"]);
        let problems = configure(&options(&[
            ("read.width", "CollimatorStatus.Nope"),
            ("set.filtration", "CollimatorStatus.ActualFilterCu"),
            ("action.close", "CollimatorCommand.Command=9"),
            ("colour", "red"),
            ("timeout_ms", "soon"),
        ]))
        .unwrap_err();
        let by_option: Vec<&str> = problems.iter().map(|p| p.option.as_str()).collect();
        assert_eq!(
            by_option,
            [
                "colour",
                "action.close",
                "read.width",
                "set.filtration",
                "safe_action",
                "timeout_ms"
            ],
            "{problems:?}"
        );
        let missing = configure(&options(&[("dbc", "/nonexistent.dbc")])).unwrap_err();
        assert!(
            missing[0].message.contains("cannot read DBC file"),
            "{missing:?}"
        );
    }

    #[test]
    fn sets_moves_and_reads_the_simulated_collimator_by_signal_name() {
        let bench = bench(CollimatorConfig {
            size_error: 0.01,
            speed_mm_per_s: 4000.0,
            ..CollimatorConfig::default()
        });
        let mut d = open(&bench);
        // 20 cm in mm, rounded to the signal's 0.1 mm resolution.
        let back = d.set("field_width", &q("20.003 cm")).unwrap();
        assert_eq!((back.value, back.unit.symbol()), (200.0, "mm"));
        d.set("field_height", &q("100 mm")).unwrap();
        // Page 1 of the same message: the field of page 0 is kept for its next frame.
        d.set("filtration", &q("0.2 mm")).unwrap();
        d.act("move").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while d.read("state").unwrap().value != 2.0 {
            assert!(Instant::now() < deadline, "never in position");
        }
        let width = d.read("width").unwrap();
        assert!((width.value - 202.0).abs() < 0.051, "{width:?}");
        assert!((d.read("filtration").unwrap().value - 0.2).abs() < 1e-9);
        let t = d.read("temperature").unwrap();
        assert!((t.value - 31.5).abs() < 0.051 && t.unit.symbol() == "degC");
        d.make_safe().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while d.read("width").unwrap().value != 0.0 {
            assert!(Instant::now() < deadline, "never closed");
        }
        assert!(d.take_notes().is_empty());
    }

    #[test]
    fn refuses_values_outside_the_dbc_range_before_sending() {
        let bench = bench(CollimatorConfig::default());
        let mut d = open(&bench);
        let err = d.set("field_width", &q("60 cm")).unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::OutOfRange { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("0 to 500"), "{err}");
        let err = d.set("field_width", &q("3 s")).unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::BadValue { .. }),
            "{err}"
        );
        assert!(d.set("iris", &q("1 mm")).is_err());
        assert!(d.read("iris").is_err());
    }

    #[test]
    fn a_silent_device_is_a_typed_error_naming_the_message() {
        let bench = bench(CollimatorConfig {
            silent_after_commands: Some(1),
            ..CollimatorConfig::default()
        });
        let mut d = open(&bench);
        d.read("width").unwrap();
        d.act("move").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let err = d.read("width").unwrap_err();
        let DriverErrorKind::NoFreshMessage {
            message,
            last_seen_ms,
            ..
        } = &err.kind
        else {
            panic!("{err}")
        };
        assert_eq!(message, "CollimatorStatus (page 0)");
        assert!(last_seen_ms.is_some());
        assert!(
            err.to_string()
                .contains("no fresh `CollimatorStatus (page 0)` frame (290h)"),
            "{err}"
        );
    }

    #[test]
    fn a_device_never_heard_is_refused_at_opening() {
        // The bench without a collimator: only the generator's heartbeats are on the bus.
        let bench = SimCanBench::start(&CanSimConfig::default(), 0, 1.0).unwrap();
        let config = configure(&options(&[("timeout_ms", "150")])).unwrap();
        let err = DbcDevice::open(
            Box::new(bench.bus().endpoint()),
            config,
            Identity::default(),
        )
        .err()
        .expect("nothing to hear");
        assert!(err.to_string().contains("none received since"), "{err}");
    }
}
