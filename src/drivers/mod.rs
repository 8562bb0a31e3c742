//! Drivers for the real admin tools: pure argv builders and pure output parsers, one file per
//! tool (`lvm`, `drbd`, `xl` + `xlcfg`, `net`, `ocfs2`, `ss`; `fs` for ext3/ext4/XFS, `files` for
//! plain files).
//!
//! A builder returns an [`Argv`] (program first) that a `Transport` runs; a parser takes the text
//! a tool printed and returns typed values in the tool's own vocabulary, with an `Unknown(String)`
//! (or `Other(String)`) fallback so a newer tool degrades instead of failing. Malformed input gives
//! a [`ParseError`] naming the offending line; a parser never panics.
//!
//! Nothing here spawns a process, reads a file or touches the network: the caller runs the argv
//! (and wraps it in `ip netns exec` or `ssh` if it needs to) and hands the output back.

pub mod drbd;
pub mod files;
pub mod fs;
pub mod image;
pub mod lvm;
pub mod net;
pub mod ocfs2;
pub mod remus;
pub mod ss;
pub mod xl;
pub mod xlcfg;

/// A command line: the program, then its arguments, each a separate word (never a shell string).
pub type Argv = Vec<String>;

/// Builds an [`Argv`] from anything string-like.
pub fn argv<I, S>(words: I) -> Argv
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    words.into_iter().map(Into::into).collect()
}

/// Output a parser could not make sense of.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{tool}: line {line}: {message}: {text:?}")]
pub struct ParseError {
    /// The tool (or file format) whose output this was, e.g. `"/proc/drbd"`.
    pub tool: &'static str,
    /// 1-based line number of the offending line; 0 when the input as a whole is at fault.
    pub line: usize,
    /// The offending line, verbatim (empty when `line` is 0).
    pub text: String,
    /// What was wrong with it, one sentence.
    pub message: String,
}

impl ParseError {
    /// An error about line `line` (1-based) whose text is `text`.
    pub fn new(tool: &'static str, line: usize, text: &str, message: impl Into<String>) -> Self {
        ParseError {
            tool,
            line,
            text: text.to_string(),
            message: message.into(),
        }
    }

    /// An error about the input as a whole (empty output, missing sections).
    pub fn whole(tool: &'static str, message: impl Into<String>) -> Self {
        ParseError {
            tool,
            line: 0,
            text: String::new(),
            message: message.into(),
        }
    }

    /// An error about line `line` (1-based) of `input`, quoting that line.
    pub fn at(tool: &'static str, input: &str, line: usize, message: impl Into<String>) -> Self {
        let text = line
            .checked_sub(1)
            .and_then(|i| input.lines().nth(i))
            .unwrap_or("");
        Self::new(tool, line, text, message)
    }

    /// A JSON syntax or shape error from serde_json, pointing at the line it reports.
    pub(crate) fn json(tool: &'static str, input: &str, err: &serde_json::Error) -> Self {
        Self::at(tool, input, err.line(), format!("invalid JSON: {err}"))
    }
}

/// Defines a string-vocabulary enum with a fallback variant holding anything unrecognised, plus
/// `parse`, `as_str` and `Display`. `parse` never fails.
macro_rules! vocab_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident fallback $fallback:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A word this version of xenflux does not know, kept verbatim.
            $fallback(String),
        }

        impl $name {
            /// Maps the tool's word to a variant; anything else becomes the fallback variant.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    other => $name::$fallback(other.to_string()),
                }
            }

            /// The tool's own word for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::$fallback(s) => s.as_str(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::parse(s))
            }
        }
    };
}
pub(crate) use vocab_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_quotes_the_line() {
        let e = ParseError::at("t", "a\nbad line\nc", 2, "nonsense");
        assert_eq!(e.line, 2);
        assert_eq!(e.text, "bad line");
        assert_eq!(e.to_string(), "t: line 2: nonsense: \"bad line\"");
        let e = ParseError::at("t", "a", 9, "past the end");
        assert_eq!(e.text, "");
    }

    #[test]
    fn argv_builds_words() {
        assert_eq!(
            argv(["xl", "info"]),
            vec!["xl".to_string(), "info".to_string()]
        );
    }
}
