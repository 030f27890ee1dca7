//! Which commit a build names, decided in the build script (`build.rs` includes this file; the
//! crate's tests include it too). The rules: `DIMBY_BUILD_COMMIT` when it is set and not empty,
//! else what `git rev-parse --short=12 HEAD` says, else [`UNKNOWN`].

/// The commit of a build that could not tell its own.
pub const UNKNOWN: &str = "unknown";

/// The most bytes of a commit name (a full SHA-256 object name is 64 hex digits).
pub const MAX_LEN: usize = 64;

/// `DIMBY_BUILD_COMMIT`'s value: `Ok(None)` when unset or blank (a build argument passed through
/// empty), the trimmed value when it can be a commit name (1 to 64 characters of `0-9 a-z A-Z .
/// _ + -`: it becomes a metric label and a log field), and an error in words otherwise.
pub fn given(value: Option<std::ffi::OsString>) -> Result<Option<String>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(text) = value.to_str() else {
        return Err("DIMBY_BUILD_COMMIT is not valid UTF-8".to_owned());
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if is_name(text) {
        Ok(Some(text.to_owned()))
    } else {
        Err(format!(
            "DIMBY_BUILD_COMMIT={text:?} is not a commit name: 1 to {MAX_LEN} characters of \
             0-9, a-z, A-Z, '.', '_', '+' and '-' (e.g. the output of git rev-parse --short=12 HEAD)"
        ))
    }
}

/// What `git rev-parse --short=12 HEAD` printed, if it names a commit.
pub fn from_git(stdout: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stdout).ok()?.trim();
    is_name(text).then(|| text.to_owned())
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::{MAX_LEN, from_git, given};

    #[test]
    fn a_given_commit_is_taken_trimmed_and_blank_means_unset() {
        assert_eq!(given(None), Ok(None));
        assert_eq!(given(Some(OsString::from(""))), Ok(None));
        assert_eq!(given(Some(OsString::from("  \n"))), Ok(None));
        assert_eq!(
            given(Some(OsString::from(" 0123456789ab\n"))),
            Ok(Some("0123456789ab".to_owned()))
        );
        let full = "a".repeat(40);
        assert_eq!(given(Some(OsString::from(&full))), Ok(Some(full)));
        assert_eq!(
            given(Some(OsString::from("v1.2.3-rc.1+build_7"))),
            Ok(Some("v1.2.3-rc.1+build_7".to_owned()))
        );
    }

    #[test]
    fn a_given_commit_that_cannot_be_a_label_is_refused_in_words() {
        for bad in [
            "abc def".to_owned(),
            "abc\"}".to_owned(),
            "é".to_owned(),
            "a".repeat(MAX_LEN + 1),
        ] {
            let error = given(Some(OsString::from(&bad))).expect_err(&bad);
            assert!(error.contains("DIMBY_BUILD_COMMIT"), "{error}");
            assert!(error.contains("not a commit name"), "{error}");
        }
    }

    #[test]
    fn git_output_is_a_commit_or_nothing() {
        assert_eq!(from_git(b"0123456789ab\n"), Some("0123456789ab".to_owned()));
        assert_eq!(from_git(b""), None);
        assert_eq!(from_git(b"fatal: not a git repository\n"), None);
        assert_eq!(from_git(&[0xff, 0xfe]), None);
    }
}
