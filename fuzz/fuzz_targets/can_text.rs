//! CAN text formats from arbitrary text: candump logs, DBC databases and EDS files; a log
//! line that parses is formatted back to one that parses alike.
#![no_main]
use qbench::can::candump;
use qbench::can::canopen::eds::Eds;
use qbench::can::dbc::DbcDatabase;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(entry) = candump::parse_line(text, 1) {
        let line = candump::format_line(entry.timestamp, &entry.interface, &entry.frame);
        let again = candump::parse_line(&line, 1).expect("a formatted line parses");
        assert_eq!(again.frame, entry.frame);
    }
    let _ = candump::read_log(text);
    if let Ok(db) = DbcDatabase::parse(text) {
        let _ = db;
    }
    let _ = Eds::parse(text);
});
