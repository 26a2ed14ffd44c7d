//! Misuses of `#[hoard::cached]` fail to compile, with a message that says what to do.

#[test]
fn misuse_fails_to_compile_readably() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
