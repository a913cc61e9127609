//! The README's first command (`scripts/demo`) runs the pipeline end to end on the embedded
//! defaults: checked here with the test build of the binary.

use std::process::Command;

#[test]
fn the_readme_demo_runs_the_pipeline_to_full_and_the_audit_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo-data");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo"))
        .arg(&data)
        .env("STRATAGEM_BIN", env!("CARGO_BIN_EXE_stratagem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "manual           2     2          0         2     0      0",
        "reddit         100   100",
        "APPROVED for COLD (6/6 layers passed",
        "promoted to WARM",
        "promoted to LIMITED",
        "promoted to FULL",
        "running at full capital",
        "stages        cold 0, warm 0, limited 0, full 1",
        "chain ok:",
        "identical:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
