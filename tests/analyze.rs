use qbench::analysis::AnalysisError;
use qbench::cli::analyze::{AnalyzeCommand, run};
use std::path::PathBuf;

// `qbench analyze`: real CSV files in a fresh temporary directory, run through
// `cli::analyze::run` (the binary's `main` only maps its result to an exit code).

/// A fresh temporary directory holding the CSV files of one test.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write a test file");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn output(command: &AnalyzeCommand) -> String {
    let mut out = Vec::new();
    if let Err(e) = run(command, &mut out) {
        panic!("{command:?} failed: {e}");
    }
    String::from_utf8(out).expect("UTF-8 output")
}

fn error(command: &AnalyzeCommand) -> AnalysisError {
    let mut out = Vec::new();
    match run(command, &mut out) {
        Ok(()) => panic!("{command:?} succeeded: {}", String::from_utf8_lossy(&out)),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "not one line: {message}");
            assert!(out.is_empty(), "wrote output before failing");
            e
        }
    }
}

fn fit(csv: PathBuf, x: &str, y: &str, json: bool) -> AnalyzeCommand {
    AnalyzeCommand::LinearFit {
        csv,
        x: x.to_string(),
        y: y.to_string(),
        json,
    }
}

fn summary(csv: PathBuf, column: &str, json: bool) -> AnalyzeCommand {
    AnalyzeCommand::Summary {
        csv,
        column: column.to_string(),
        json,
    }
}

/// x = 1..5, y = 2.1, 3.9, 6.2, 7.8, 10.1: slope 1.99, intercept 0.05, residuals
/// 0.06, −0.13, 0.18, −0.21, 0.10 (hand-computed).
const LINEAR: &str = "# a hand-computed straight line\n\
                      setting [mAs],kerma (mGy),note\n\
                      1,2.1,a\n2,3.9,b\n3,6.2,c\n4,7.8,d\n5,10.1,e\n";

fn number(value: &serde_json::Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {value}"))
}

#[test]
fn linear_fit_json_is_one_object_on_one_line() {
    let dir = Dir::new();
    let out = output(&fit(dir.file("line.csv", LINEAR), "setting", "kerma", true));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.ends_with('\n'));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "n",
        "slope",
        "intercept",
        "slope_std_error",
        "intercept_std_error",
        "residual_std_dev",
        "r_squared",
        "max_abs_deviation",
        "max_rel_deviation",
    ];
    expected.sort_unstable();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(v["n"].as_u64(), Some(5));
    let s = (0.107f64 / 3.0).sqrt();
    let checks = [
        ("slope", 1.99),
        ("intercept", 0.05),
        ("residual_std_dev", s),
        ("slope_std_error", s / 10f64.sqrt()),
        ("intercept_std_error", s * 1.1f64.sqrt()),
        ("r_squared", 1.0 - 0.107 / 39.708),
        ("max_abs_deviation", 0.21),
        ("max_rel_deviation", 0.13 / 4.03),
    ];
    for (key, expected) in checks {
        let got = number(&v, key);
        assert!((got - expected).abs() < 1e-12, "{key}: {got} vs {expected}");
    }
}

#[test]
fn linear_fit_table_for_a_person() {
    let dir = Dir::new();
    let out = output(&fit(
        dir.file("line.csv", LINEAR),
        "setting [mAs]",
        "kerma (mGy)",
        false,
    ));
    assert!(
        out.starts_with("linear fit of `kerma (mGy)` on `setting [mAs]`"),
        "{out}"
    );
    let slope = out
        .lines()
        .find(|l| l.trim_start().starts_with("slope "))
        .unwrap();
    assert!(
        slope.contains("1.99") && slope.ends_with("mGy/mAs"),
        "{slope}"
    );
    let intercept = out
        .lines()
        .find(|l| l.trim_start().starts_with("intercept "))
        .unwrap();
    assert!(intercept.ends_with("mGy"), "{intercept}");
    assert!(out.contains("R²"), "{out}");
    // Values are right-aligned: every value column ends at the same place before its unit.
    let points = out
        .lines()
        .find(|l| l.trim_start().starts_with("points"))
        .unwrap();
    assert!(points.ends_with(" 5"), "{points}");
}

#[test]
fn summary_json_has_the_documented_fields() {
    let dir = Dir::new();
    let csv = dir.file(
        "v.csv",
        "breath,volume [mL]\n1,498\n2,502\n3,500\n4,504\n5,496\n",
    );
    let out = output(&summary(csv, "volume", true));
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cv",
            "max",
            "mean",
            "min",
            "n",
            "std_dev",
            "std_error_of_mean"
        ]
    );
    // Deviations −2, 2, 0, 4, −4: Σd² = 40, s = √10.
    let sd = 10f64.sqrt();
    assert_eq!(v["n"].as_u64(), Some(5));
    assert_eq!(number(&v, "mean"), 500.0);
    assert!((number(&v, "std_dev") - sd).abs() < 1e-13);
    assert!((number(&v, "cv") - sd / 500.0).abs() < 1e-15);
    assert_eq!((number(&v, "min"), number(&v, "max")), (496.0, 504.0));
    assert!((number(&v, "std_error_of_mean") - sd / 5f64.sqrt()).abs() < 1e-13);
}

#[test]
fn summary_table_for_a_person() {
    let dir = Dir::new();
    let csv = dir.file("v.csv", "volume [mL]\n498\n502\n");
    let out = output(&summary(csv, "volume [mL]", false));
    assert!(out.starts_with("summary of `volume [mL]`"), "{out}");
    let mean = out
        .lines()
        .find(|l| l.trim_start().starts_with("mean"))
        .unwrap();
    assert!(mean.contains("500") && mean.ends_with("mL"), "{mean}");
    assert!(out.contains("coefficient of variation"), "{out}");
}

#[test]
fn full_precision_survives_json() {
    let dir = Dir::new();
    let csv = dir.file("p.csv", "x\n0.1\n0.2\n0.30000000000000004\n");
    let out = output(&summary(csv, "x", true));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(number(&v, "max"), 0.30000000000000004);
}

#[test]
fn a_missing_file_is_named() {
    let dir = Dir::new();
    let path = dir.path("nowhere.csv");
    let e = error(&summary(path.clone(), "x", false));
    assert!(matches!(e, AnalysisError::Read { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("cannot read `{}`: no such file", path.display())
    );
}

#[test]
fn a_missing_column_lists_the_columns_that_exist() {
    let dir = Dir::new();
    let csv = dir.file("line.csv", LINEAR);
    let e = error(&fit(csv.clone(), "setting", "dose", true));
    assert_eq!(
        e.to_string(),
        format!(
            "`{}`: no column `dose`; the columns are: `setting [mAs]`, `kerma (mGy)`, `note`",
            csv.display()
        )
    );
}

#[test]
fn a_non_numeric_cell_gives_its_row_and_text() {
    let dir = Dir::new();
    let csv = dir.file("line.csv", LINEAR);
    let e = error(&fit(csv.clone(), "setting", "note", false));
    assert!(
        matches!(&e, AnalysisError::InFile { source, .. }
        if matches!(**source, AnalysisError::NotANumber { row: 1, line: 3, .. })),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "`{}`: row 1 (line 3), column `note`: `a` is not a finite number",
            csv.display()
        )
    );
    let csv = dir.file("gap.csv", "x,y\n1,2\n2,\n3,4\n");
    let e = error(&fit(csv, "x", "y", false));
    assert!(
        e.to_string()
            .ends_with("row 2 (line 3), column `y`: the cell is empty"),
        "{e}"
    );
    let csv = dir.file("nan.csv", "x\n1\nNaN\n");
    let e = error(&summary(csv, "x", true));
    assert!(
        e.to_string().ends_with("`NaN` is not a finite number"),
        "{e}"
    );
}

#[test]
fn too_few_points_for_a_fit() {
    let dir = Dir::new();
    let csv = dir.file("two.csv", "x,y\n1,2\n2,4\n");
    let e = error(&fit(csv.clone(), "x", "y", true));
    assert_eq!(
        e.to_string(),
        format!(
            "`{}`: a linear fit needs at least 3 points, got 2",
            csv.display()
        )
    );
}

#[test]
fn a_single_value_has_no_standard_deviation() {
    let dir = Dir::new();
    let csv = dir.file("one.csv", "x\n1\n");
    let e = error(&summary(csv, "x", true));
    assert!(
        e.to_string().contains("needs at least 2 points, got 1"),
        "{e}"
    );
}

#[test]
fn constant_x_is_refused() {
    let dir = Dir::new();
    let csv = dir.file("flat.csv", "x,y\n2,1\n2,2\n2,3\n");
    let e = error(&fit(csv.clone(), "x", "y", false));
    assert_eq!(
        e.to_string(),
        format!(
            "`{}`: every x value is 2: a straight line through constant x is undefined",
            csv.display()
        )
    );
}

#[test]
fn malformed_and_empty_files() {
    let dir = Dir::new();
    let csv = dir.file("ragged.csv", "x,y\n1,2\n3\n");
    let e = error(&fit(csv, "x", "y", false));
    assert!(
        e.to_string()
            .ends_with("line 3: the row has 1 cells, the header has 2"),
        "{e}"
    );
    let csv = dir.file("empty.csv", "");
    let e = error(&summary(csv, "x", false));
    assert!(e.to_string().contains("the table is empty"), "{e}");
    let csv = dir.file("header-only.csv", "x\n");
    let e = error(&summary(csv, "x", false));
    assert!(e.to_string().contains("needs at least one value"), "{e}");
}
