//! Expressions and unit symbols on arbitrary text: parse, and evaluate in an empty scope.
#![no_main]

struct Empty;

impl qbench::procedure::expr::Scope for Empty {
    fn value(&self, _name: &str) -> Option<qbench::procedure::expr::Value> {
        None
    }
    fn samples(&self, _name: &str) -> Option<(&[f64], &qbench::units::Unit)> {
        None
    }
}

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(expr) = qbench::procedure::expr::parse(text) {
        let _ = expr.eval(&Empty);
    }
    let _ = qbench::units::parse_quantity(text);
});
