//! Compile-time behaviour of `#[remote]`: what must compile (`ui/pass`) and, for each rule, the
//! exact error a user sees (`ui/fail/<rule>.rs` + `.stderr`). Regenerate the expected output
//! with `TRYBUILD=overwrite cargo test -p slacker-macros --test ui`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
