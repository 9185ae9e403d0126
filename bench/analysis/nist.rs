//! Validation against the NIST Statistical Reference Datasets (StRD) kept in
//! `tests/data/nist/` (see the README there for where each file came from).
//!
//! Accuracy is measured as NIST does, by the log relative error
//! LRE = −log₁₀(|computed − certified| / |certified|), the number of correct significant
//! digits; qbench asks for at least 10. Two certified values cannot be reached from
//! binary64 inputs by any algorithm: NumAcc3 and NumAcc4 hold values such as 10000000.1,
//! whose nearest doubles are off by up to 1e-9, so the standard deviation of the stored data
//! differs from the certified 0.1 in the 10th (NumAcc3) and 9th (NumAcc4) digit. For those
//! two, the test checks instead that qbench reproduces the exact standard deviation of the
//! stored doubles to 12 digits, and the certified value to the digits the inputs allow.

use super::fit::{LinearFit, ProportionalFit};
use super::stats::Summary;
use std::path::PathBuf;

/// The digits qbench must get right where the data allow it.
const REQUIRED_LRE: f64 = 10.0;

fn data_file(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "nist", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The log relative error; 15 when the values are identical (the limit of binary64).
fn lre(computed: f64, certified: f64) -> f64 {
    if computed == certified {
        return 15.0;
    }
    let error = if certified == 0.0 {
        computed.abs()
    } else {
        (computed - certified).abs() / certified.abs()
    };
    (-error.log10()).min(15.0)
}

fn last_number(line: &str) -> f64 {
    let token = line.split_whitespace().last().unwrap_or_default();
    token
        .parse()
        .unwrap_or_else(|_| panic!("no number at the end of `{line}`"))
}

/// A univariate data set: certified mean and standard deviation, and the data.
struct Univariate {
    mean: f64,
    std_dev: f64,
    data: Vec<f64>,
}

fn univariate(name: &str) -> Univariate {
    let text = data_file(name);
    let find = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(last_number)
            .unwrap_or_else(|| panic!("{name}: no `{prefix}` line"))
    };
    let mean = find("Sample Mean");
    let std_dev = find("Sample Standard Deviation");
    let data: Vec<f64> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("---"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: bad data line `{l}`"))
        })
        .collect();
    let expected_n = text
        .lines()
        .find(|l| l.starts_with("Number of Observations"))
        .map(last_number)
        .unwrap_or_else(|| panic!("{name}: no observation count"));
    assert_eq!(data.len() as f64, expected_n, "{name}: observation count");
    Univariate {
        mean,
        std_dev,
        data,
    }
}

#[test]
fn univariate_summary_statistics() {
    for name in [
        "Lew.dat",
        "Lottery.dat",
        "Mavro.dat",
        "Michelso.dat",
        "NumAcc1.dat",
        "NumAcc2.dat",
        "PiDigits.dat",
    ] {
        let set = univariate(name);
        let s = Summary::of(&set.data).unwrap();
        let (mean_lre, sd_lre) = (lre(s.mean, set.mean), lre(s.std_dev, set.std_dev));
        eprintln!("{name}: mean LRE {mean_lre:.1}, std dev LRE {sd_lre:.1}");
        assert!(
            mean_lre >= REQUIRED_LRE,
            "{name}: mean {} has LRE {mean_lre:.1}",
            s.mean
        );
        assert!(
            sd_lre >= REQUIRED_LRE,
            "{name}: std dev {} has LRE {sd_lre:.1}",
            s.std_dev
        );
    }
}

/// The standard deviation of values that all lie just above `offset`, computed from their
/// exact distances to it (subtracting a nearby double is exact), where two-pass summation in
/// binary64 is accurate to about 1e-16.
fn exact_std_dev_above(values: &[f64], offset: f64) -> f64 {
    let distances: Vec<f64> = values.iter().map(|v| v - offset).collect();
    for (v, d) in values.iter().zip(&distances) {
        assert_eq!(d + offset, *v, "the subtraction must be exact");
    }
    let n = distances.len() as f64;
    let mean = distances.iter().sum::<f64>() / n;
    (distances
        .iter()
        .map(|d| (d - mean) * (d - mean))
        .sum::<f64>()
        / (n - 1.0))
        .sqrt()
}

#[test]
fn numacc3_and_numacc4_reach_the_limit_of_their_binary64_inputs() {
    // (file, offset, digits of the certified standard deviation the doubles carry)
    for (name, offset, reachable) in [("NumAcc3.dat", 1e6, 9.0), ("NumAcc4.dat", 1e7, 8.0)] {
        let set = univariate(name);
        let s = Summary::of(&set.data).unwrap();
        let mean_lre = lre(s.mean, set.mean);
        assert!(
            mean_lre >= REQUIRED_LRE,
            "{name}: mean {} has LRE {mean_lre:.1}",
            s.mean
        );
        let of_inputs = exact_std_dev_above(&set.data, offset);
        let algorithm_lre = lre(s.std_dev, of_inputs);
        assert!(
            algorithm_lre >= 12.0,
            "{name}: std dev {} vs {of_inputs}",
            s.std_dev
        );
        let certified_lre = lre(s.std_dev, set.std_dev);
        eprintln!(
            "{name}: mean LRE {mean_lre:.1}, std dev LRE {certified_lre:.1} vs certified, \
             {algorithm_lre:.1} vs the stored doubles"
        );
        assert!(
            certified_lre >= reachable,
            "{name}: std dev LRE {certified_lre:.1}"
        );
    }
}

/// A regression data set: the certified rows (`B0`, `B1`), residual standard deviation and
/// R², and the (x, y) data.
struct Regression {
    text: String,
    residual_sd: f64,
    r_squared: f64,
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Regression {
    fn load(name: &str) -> Regression {
        let text = data_file(name);
        let residual_sd = text
            .lines()
            .filter(|l| l.trim_start().starts_with("Standard Deviation"))
            .find_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name}: no residual standard deviation"));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let data = text
            .lines()
            .skip_while(|l| l.split_whitespace().collect::<Vec<_>>() != ["Data:", "y", "x"])
            .skip(1);
        for line in data {
            let v: Vec<f64> = line
                .split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect();
            if let [yi, xi] = v[..] {
                y.push(yi);
                x.push(xi);
            }
        }
        let mut set = Regression {
            text,
            residual_sd,
            r_squared: 0.0,
            x,
            y,
        };
        set.r_squared = set.row("R-Squared")[0];
        set
    }

    /// The numbers after `label` on the line that starts with it.
    fn row(&self, label: &str) -> Vec<f64> {
        let line = self
            .text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(label))
            .unwrap_or_else(|| panic!("no `{label}` line"));
        line.split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect()
    }
}

fn check_all(name: &str, checks: &[(&str, f64, f64)]) {
    for &(what, computed, certified) in checks {
        let digits = lre(computed, certified);
        eprintln!("{name} {what}: LRE {digits:.1}");
        assert!(
            digits >= REQUIRED_LRE,
            "{name} {what}: {computed} vs {certified}, LRE {digits:.1}"
        );
    }
}

#[test]
fn norris_linear_regression() {
    let set = Regression::load("Norris.dat");
    assert_eq!(set.x.len(), 36);
    let (b0, b1) = (set.row("B0"), set.row("B1"));
    let fit = LinearFit::new(&set.x, &set.y).unwrap();
    check_all(
        "Norris",
        &[
            ("intercept", fit.intercept, b0[0]),
            ("intercept standard error", fit.intercept_std_error, b0[1]),
            ("slope", fit.slope, b1[0]),
            ("slope standard error", fit.slope_std_error, b1[1]),
            (
                "residual standard deviation",
                fit.residual_std_dev,
                set.residual_sd,
            ),
            ("R²", fit.r_squared, set.r_squared),
        ],
    );
}

#[test]
fn noint_regressions_through_the_origin() {
    for (name, n) in [("NoInt1.dat", 11), ("NoInt2.dat", 3)] {
        let set = Regression::load(name);
        assert_eq!(set.x.len(), n, "{name}");
        let b1 = set.row("B1");
        let fit = ProportionalFit::new(&set.x, &set.y).unwrap();
        check_all(
            name,
            &[
                ("slope", fit.slope, b1[0]),
                ("slope standard error", fit.slope_std_error, b1[1]),
                (
                    "residual standard deviation",
                    fit.residual_std_dev,
                    set.residual_sd,
                ),
                ("R²", fit.r_squared, set.r_squared),
            ],
        );
    }
}

#[test]
fn lre_counts_significant_digits() {
    assert_eq!(lre(1.0, 1.0), 15.0);
    assert!((lre(1.000001, 1.0) - 6.0).abs() < 1e-3);
    assert!((lre(0.0, 1.0) - 0.0).abs() < 1e-12);
}
