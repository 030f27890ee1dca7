//! Times as users type and read them: `1:23`, `83`, `1:02:03`, and the position bar.

/// A timestamp that [`parse_timestamp`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Nothing was given.
    #[error("no time given: use a time like 1:23, 83 (seconds) or 1:02:03")]
    Empty,
    /// Not made of one to three groups of digits separated by `:`.
    #[error("{input:?} is not a time: use a time like 1:23, 83 (seconds) or 1:02:03")]
    Malformed {
        /// What was given.
        input: String,
    },
    /// Minutes or seconds after a `:` are 60 or more.
    #[error("{input:?} is not a time: {field} must be below 60 (like 1:23 or 1:02:03)")]
    FieldOutOfRange {
        /// What was given.
        input: String,
        /// `minutes` or `seconds`.
        field: &'static str,
    },
    /// Too large to be a position in a track.
    #[error("{input:?} is too long a time")]
    TooLarge {
        /// What was given.
        input: String,
    },
}

/// Reads a time as users type it, in milliseconds: `83` (seconds), `1:23` (minutes and seconds)
/// or `1:02:03` (hours, minutes and seconds). Surrounding whitespace is ignored; the first group
/// may be any size (`90:00` is 90 minutes), the ones after a `:` must be below 60 and at most two
/// digits.
pub fn parse_timestamp(input: &str) -> Result<u64, TimestampError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(TimestampError::Empty);
    }
    let malformed = || TimestampError::Malformed {
        input: trimmed.to_owned(),
    };
    let parts: Vec<&str> = trimmed.split(':').collect();
    if parts.len() > 3 {
        return Err(malformed());
    }
    let mut seconds: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || (i > 0 && part.len() > 2)
        {
            return Err(malformed());
        }
        let value: u64 = part.parse().map_err(|_| TimestampError::TooLarge {
            input: trimmed.to_owned(),
        })?;
        if i > 0 && value >= 60 {
            // The last group is seconds; in h:mm:ss the middle one is minutes.
            let field = if i + 1 == parts.len() {
                "seconds"
            } else {
                "minutes"
            };
            return Err(TimestampError::FieldOutOfRange {
                input: trimmed.to_owned(),
                field,
            });
        }
        seconds = seconds
            .checked_mul(if i == 0 { 1 } else { 60 })
            .and_then(|s| s.checked_add(value))
            .ok_or_else(|| TimestampError::TooLarge {
                input: trimmed.to_owned(),
            })?;
    }
    seconds
        .checked_mul(1000)
        .ok_or_else(|| TimestampError::TooLarge {
            input: trimmed.to_owned(),
        })
}

/// Formats milliseconds as `m:ss`, or `h:mm:ss` from an hour on (`0:00`, `3:45`, `1:02:03`);
/// milliseconds are cut off, not rounded.
pub fn format_duration(ms: u64) -> String {
    let total = ms / 1000;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// Cells in the bar of [`position_bar`].
pub const BAR_WIDTH: usize = 10;

/// The bar for /nowplaying: `▬▬▬🔘▬▬▬▬▬▬ 1:23 / 3:45` ([`BAR_WIDTH`] cells, the knob in the cell
/// the position falls in). With `length_ms` `None` (a live stream) it is `🔴 LIVE 1:23`.
pub fn position_bar(position_ms: u64, length_ms: Option<u64>) -> String {
    let Some(length) = length_ms else {
        return format!("🔴 LIVE {}", format_duration(position_ms));
    };
    let position = position_ms.min(length);
    let width = u64::try_from(BAR_WIDTH).unwrap_or(u64::MAX);
    let cell = position
        .saturating_mul(width)
        .checked_div(length)
        .unwrap_or(0)
        .min(width - 1);
    let knob = usize::try_from(cell).unwrap_or(0);
    let mut bar = String::new();
    for i in 0..BAR_WIDTH {
        bar.push_str(if i == knob { "🔘" } else { "▬" });
    }
    format!(
        "{bar} {} / {}",
        format_duration(position),
        format_duration(length)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_users_type() {
        assert_eq!(parse_timestamp("1:23"), Ok(83_000));
        assert_eq!(parse_timestamp("83"), Ok(83_000));
        assert_eq!(parse_timestamp("1:02:03"), Ok(3_723_000));
        assert_eq!(parse_timestamp(" 90:00 "), Ok(5_400_000));
        assert_eq!(parse_timestamp("0"), Ok(0));
        assert_eq!(parse_timestamp("1:5"), Ok(65_000));
        assert_eq!(parse_timestamp("00:00:07"), Ok(7_000));
    }

    #[test]
    fn bad_timestamps_say_what_is_wrong() {
        assert_eq!(parse_timestamp("  "), Err(TimestampError::Empty));
        for bad in [
            "a", "1::2", ":5", "5:", "1:2:3:4", "-5", "1.5", "1:234", "+3", "１:２",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(TimestampError::Malformed {
                    input: bad.to_owned()
                }),
                "{bad}"
            );
        }
        assert_eq!(
            parse_timestamp("1:60"),
            Err(TimestampError::FieldOutOfRange {
                input: "1:60".to_owned(),
                field: "seconds"
            })
        );
        let minutes = parse_timestamp("1:60:00").expect_err("minutes");
        assert_eq!(
            minutes.to_string(),
            "\"1:60:00\" is not a time: minutes must be below 60 (like 1:23 or 1:02:03)"
        );
        assert!(matches!(
            parse_timestamp("99999999999999999999"),
            Err(TimestampError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_timestamp("18446744073709552"),
            Err(TimestampError::TooLarge { .. })
        ));
        assert_eq!(
            parse_timestamp("x").expect_err("bad").to_string(),
            "\"x\" is not a time: use a time like 1:23, 83 (seconds) or 1:02:03"
        );
    }

    #[test]
    fn durations_read_like_a_player() {
        assert_eq!(format_duration(0), "0:00");
        assert_eq!(format_duration(999), "0:00");
        assert_eq!(format_duration(83_000), "1:23");
        assert_eq!(format_duration(225_000), "3:45");
        assert_eq!(format_duration(3_599_999), "59:59");
        assert_eq!(format_duration(3_723_000), "1:02:03");
        assert_eq!(format_duration(100 * 3_600_000), "100:00:00");
    }

    #[test]
    fn position_bars() {
        assert_eq!(
            position_bar(83_000, Some(225_000)),
            "▬▬▬🔘▬▬▬▬▬▬ 1:23 / 3:45"
        );
        assert_eq!(position_bar(0, Some(225_000)), "🔘▬▬▬▬▬▬▬▬▬ 0:00 / 3:45");
        assert_eq!(
            position_bar(225_000, Some(225_000)),
            "▬▬▬▬▬▬▬▬▬🔘 3:45 / 3:45"
        );
        assert_eq!(
            position_bar(999_999, Some(225_000)),
            "▬▬▬▬▬▬▬▬▬🔘 3:45 / 3:45",
            "capped at the end"
        );
        assert_eq!(position_bar(5, Some(0)), "🔘▬▬▬▬▬▬▬▬▬ 0:00 / 0:00");
        assert_eq!(position_bar(83_000, None), "🔴 LIVE 1:23");
        assert_eq!(
            position_bar(u64::MAX, Some(u64::MAX)).matches('🔘').count(),
            1
        );
    }
}
