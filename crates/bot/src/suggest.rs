//! Suggestions while a user types (Discord's autocomplete), answered within Discord's 3 s:
//! tracks a search finds for `/play`, the typist's playlist names, the filter presets.
//!
//! A search is the expensive one. Recent searches are kept for [`CACHE_TTL`] (typing the same
//! words again, or another listener typing them, costs nothing); a search under way is shared by
//! everyone typing the same words; each guild may start `bot.autocomplete_searches` a second;
//! and an answer waits for its search at most `bot.autocomplete_timeout` (250 ms): a slower
//! search runs on (up to [`SEARCH_CAP`]) and fills the cache for the next keystrokes, while this
//! answer is the text as typed, so the user can still send it. A URL is suggested as it is,
//! never searched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use discord::{AutocompleteRequest, GuildId, Suggestion, UserId};
use lavalink::model::{LoadResult, Track};
use music::format_duration;
use telemetry::SuggestOutcome;
use tokio::sync::watch;

use super::commands::{self, CommandKind, Suggest};
use super::guild::{identifier, is_url};
use super::runtime::Core;

/// How long a search's suggestions are reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// How many searches are kept at most (the oldest goes first).
pub const CACHE_ENTRIES: usize = 2_048;
/// How many tracks of a search are suggested.
pub const SEARCH_SUGGESTIONS: usize = 10;
/// Words shorter than this are not searched (one letter finds nothing useful).
pub const MIN_SEARCH_CHARS: usize = 2;

/// How long a search started for suggestions may run on after its answer stopped waiting for
/// it (it fills the cache for the next keystrokes).
pub const SEARCH_CAP: Duration = Duration::from_secs(10);

/// A search's result as those waiting for it see it: `None` while it runs, then the
/// suggestions, or `Err` when it failed.
type Searching = watch::Receiver<Option<Result<Vec<Suggestion>, ()>>>;

/// The suggestions' shared state: the search cache, the searches under way (one per set of
/// words: typists who type the same words wait for the same search) and each guild's searches
/// this second.
#[derive(Default)]
pub(super) struct Suggester {
    cache: Mutex<HashMap<String, Cached>>,
    searching: Mutex<HashMap<String, Searching>>,
    windows: Mutex<HashMap<GuildId, Window>>,
}

struct Cached {
    at: Instant,
    suggestions: Vec<Suggestion>,
}

/// One guild's searches in the current second.
struct Window {
    started: Instant,
    used: u32,
}

impl Suggester {
    fn cached(&self, key: &str, now: Instant) -> Option<Vec<Suggestion>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|cached| now.saturating_duration_since(cached.at) < CACHE_TTL)
            .map(|cached| cached.suggestions.clone())
    }

    fn remember(&self, key: String, suggestions: Vec<Suggestion>, now: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, cached| now.saturating_duration_since(cached.at) < CACHE_TTL);
        }
        if cache.len() >= CACHE_ENTRIES
            && let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, cached)| cached.at)
                .map(|(key, _)| key.clone())
        {
            cache.remove(&oldest);
        }
        cache.insert(
            key,
            Cached {
                at: now,
                suggestions,
            },
        );
    }

    /// Whether `guild` may start another search now (`per_second` a second).
    fn allow(&self, guild: GuildId, per_second: u32, now: Instant) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        // Guilds that stopped typing are forgotten so the map stays small.
        if windows.len() > 1_024 {
            windows.retain(|_, window| {
                now.saturating_duration_since(window.started) < Duration::from_secs(1)
            });
        }
        let window = windows.entry(guild).or_insert(Window {
            started: now,
            used: 0,
        });
        if now.saturating_duration_since(window.started) >= Duration::from_secs(1) {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        if window.used >= per_second {
            return false;
        }
        window.used += 1;
        true
    }
}

/// Answers one autocomplete: finds the suggestions for the option being typed, sends them, and
/// records where they came from and how long the answer took.
pub(super) async fn answer(core: Arc<Core>, request: AutocompleteRequest) {
    let core = &core;
    let Some(focused) = request.focused() else {
        return;
    };
    let command = CommandKind::from_name(&request.name).map_or("unknown", CommandKind::name);
    let text = focused.text.trim();
    let (suggestions, outcome) =
        match commands::suggestions_for(&request.name, focused.subcommand, focused.option) {
            Some(Suggest::Words(words)) => (
                matching(words.iter().copied(), text),
                SuggestOutcome::Listed,
            ),
            Some(Suggest::Playlists) => (
                playlists(core, request.user, text).await,
                SuggestOutcome::Listed,
            ),
            Some(Suggest::Tracks) => tracks(core, request.guild, text).await,
            None => (Vec::new(), SuggestOutcome::Listed),
        };
    let outcome = match request.responder.suggest(&suggestions).await {
        Ok(()) => outcome,
        Err(error) => {
            tracing::debug!(command, %error, "could not send suggestions");
            SuggestOutcome::Unsent
        }
    };
    core.observers.metrics.record_suggestions(
        command,
        outcome,
        discord::age_of(request.responder.received()),
    );
}

/// The words that contain what was typed (case aside), those starting with it first.
fn matching<'a>(words: impl Iterator<Item = &'a str>, typed: &str) -> Vec<Suggestion> {
    let typed = typed.to_lowercase();
    let (mut starting, mut containing): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for word in words {
        let lower = word.to_lowercase();
        if lower.starts_with(&typed) {
            starting.push(word);
        } else if lower.contains(&typed) {
            containing.push(word);
        }
    }
    starting.append(&mut containing);
    starting.into_iter().map(Suggestion::same).collect()
}

/// The typist's playlists whose names contain what was typed.
async fn playlists(core: &Core, user: UserId, typed: &str) -> Vec<Suggestion> {
    match core.shell.store().playlists(user.get()).await {
        Ok(lists) => matching(lists.iter().map(|list| list.name.as_str()), typed),
        Err(error) => {
            tracing::warn!(%error, "could not read playlists for suggestions");
            Vec::new()
        }
    }
}

/// Tracks for what is typed into `/play`: the URL as it is, else a search (cached, limited per
/// guild, bounded in time), else the text as typed.
async fn tracks(
    core: &Arc<Core>,
    guild: Option<GuildId>,
    typed: &str,
) -> (Vec<Suggestion>, SuggestOutcome) {
    let as_typed = || {
        if typed.is_empty() {
            Vec::new()
        } else {
            vec![Suggestion::same(typed)]
        }
    };
    if is_url(typed) || typed.chars().count() < MIN_SEARCH_CHARS {
        return (as_typed(), SuggestOutcome::Listed);
    }
    let key = cache_key(typed);
    let now = core.clock.now();
    if let Some(suggestions) = core.suggester.cached(&key, now) {
        return (suggestions, SuggestOutcome::Cached);
    }
    // Someone is searching these words already: wait for that search; else start one, if the
    // guild has a search left this second.
    let (searching, outcome) = {
        let mut under_way = core
            .suggester
            .searching
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(searching) = under_way.get(&key) {
            (searching.clone(), SuggestOutcome::Joined)
        } else {
            if let Some(guild) = guild
                && !core
                    .suggester
                    .allow(guild, core.settings.autocomplete_searches, now)
            {
                return (as_typed(), SuggestOutcome::Limited);
            }
            let (done, searching) = watch::channel(None);
            under_way.insert(key.clone(), searching.clone());
            search(core, key, typed, done);
            (searching, SuggestOutcome::Searched)
        }
    };
    // The answer waits for the search this long; the search itself runs on and fills the cache.
    let waited =
        tokio::time::timeout(core.settings.autocomplete_timeout, wait_for(searching)).await;
    match waited {
        Err(_) => (as_typed(), SuggestOutcome::TimedOut),
        Ok(None | Some(Err(()))) => (as_typed(), SuggestOutcome::Failed),
        Ok(Some(Ok(suggestions))) => (suggestions, outcome),
    }
}

async fn wait_for(mut searching: Searching) -> Option<Result<Vec<Suggestion>, ()>> {
    searching
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|done| done.clone())
}

/// Runs the search for `typed` on a tracked task (bounded by [`SEARCH_CAP`], ended by the stop)
/// that caches what it finds, leaves the searches under way and tells whoever waits (`done`).
fn search(
    core: &Arc<Core>,
    key: String,
    typed: &str,
    done: watch::Sender<Option<Result<Vec<Suggestion>, ()>>>,
) {
    let (identifier, _) = identifier(typed);
    let typed = typed.to_owned();
    let task_core = Arc::clone(core);
    core.tasks.spawn(async move {
        let core = task_core;
        let load = core.shell.cluster().load_tracks(&identifier);
        let result = tokio::select! {
            loaded = tokio::time::timeout(SEARCH_CAP, load) => match loaded {
                Ok(Ok(loaded)) => suggestions_of(loaded, &typed),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "a search for suggestions failed");
                    Err(())
                }
                Err(_) => Err(()),
            },
            () = core.abandon.cancelled() => Err(()),
        };
        if let Ok(suggestions) = &result {
            core.suggester
                .remember(key.clone(), suggestions.clone(), core.clock.now());
        }
        core.suggester
            .searching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        let _ = done.send(Some(result));
    });
}

/// What a load gives as suggestions (`Err` for a load that failed).
fn suggestions_of(loaded: LoadResult, typed: &str) -> Result<Vec<Suggestion>, ()> {
    Ok(match loaded {
        LoadResult::Search(tracks) => tracks
            .iter()
            .filter_map(track_suggestion)
            .take(SEARCH_SUGGESTIONS)
            .collect(),
        LoadResult::Track(track) => track_suggestion(&track).into_iter().collect(),
        LoadResult::Playlist(playlist) => vec![Suggestion {
            name: format!("{} ({} tracks)", playlist.info.name, playlist.tracks.len()),
            value: typed.to_owned(),
        }],
        LoadResult::Empty => Vec::new(),
        LoadResult::Error(_) | LoadResult::Unknown(_) => return Err(()),
    })
}

/// A track as a suggestion: "Title — Author (3:32)", its URL as the value (`/play` loads it
/// exactly). A track without a URL short enough to be a value is left out.
fn track_suggestion(track: &Track) -> Option<Suggestion> {
    let info = &track.info;
    let uri = info.uri.as_deref().filter(|uri| {
        !uri.is_empty() && uri.chars().count() <= discord::autocomplete::MAX_CHOICE_CHARS
    })?;
    let length = if info.is_stream {
        "live".to_owned()
    } else {
        u64::try_from(info.length).map_or_else(|_| "?".to_owned(), format_duration)
    };
    let length = format!(" ({length})");
    // The length stays visible: the title and author are cut to make room for it.
    let room = discord::autocomplete::MAX_CHOICE_CHARS.saturating_sub(length.chars().count());
    let name = discord::autocomplete::truncate(&format!("{} — {}", info.title, info.author), room);
    Some(Suggestion {
        name: format!("{name}{length}"),
        value: uri.to_owned(),
    })
}

/// The same search whatever the case and spacing.
fn cache_key(typed: &str) -> String {
    typed
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use clock::Clock as _;

    use super::*;

    #[test]
    fn words_starting_with_the_text_come_before_words_containing_it() {
        let words = ["bassboost-low", "soft", "lowpass", "nightcore"];
        let names: Vec<String> = matching(words.iter().copied(), "LOW")
            .into_iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(names, ["lowpass", "bassboost-low"]);
        assert_eq!(matching(words.iter().copied(), "").len(), 4);
        assert!(matching(words.iter().copied(), "zzz").is_empty());
    }

    #[test]
    fn the_cache_forgets_after_its_ttl_and_keeps_its_bound() {
        let suggester = Suggester::default();
        let start = clock::ManualClock::new().now();
        suggester.remember(
            cache_key("Never  Gonna"),
            vec![Suggestion::same("x")],
            start,
        );
        assert!(suggester.cached(&cache_key("never gonna"), start).is_some());
        assert!(suggester.cached("never gonna", start + CACHE_TTL).is_none());
        for n in 0..=CACHE_ENTRIES {
            suggester.remember(
                format!("q{n}"),
                Vec::new(),
                start + Duration::from_millis(n as u64),
            );
        }
        let cache = suggester.cache.lock().expect("cache");
        assert_eq!(cache.len(), CACHE_ENTRIES);
        // The oldest went first.
        assert!(!cache.contains_key("never gonna"));
        assert!(cache.contains_key(&format!("q{CACHE_ENTRIES}")));
    }

    #[test]
    fn each_guild_gets_its_searches_per_second() {
        let suggester = Suggester::default();
        let (a, b) = (GuildId::new(1), GuildId::new(2));
        let start = clock::ManualClock::new().now();
        assert!((0..3).all(|_| suggester.allow(a, 3, start)));
        assert!(!suggester.allow(a, 3, start + Duration::from_millis(999)));
        assert!(suggester.allow(b, 3, start), "another guild has its own");
        assert!(suggester.allow(a, 3, start + Duration::from_secs(1)));
    }

    #[test]
    fn a_track_suggestion_keeps_its_length_visible_and_its_url_as_value() {
        let track: Track = serde_json::from_value(serde_json::json!({
            "encoded": "QAAA",
            "info": {
                "identifier": "dQw4w9WgXcQ", "isSeekable": true, "author": "Rick Astley",
                "length": 213_000, "isStream": false, "position": 0,
                "title": "T".repeat(150), "uri": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                "artworkUrl": null, "isrc": null, "sourceName": "youtube"
            },
            "pluginInfo": {}, "userData": {}
        }))
        .expect("track");
        let suggestion = track_suggestion(&track).expect("suggestion");
        assert!(suggestion.name.ends_with(" (3:33)"), "{}", suggestion.name);
        assert_eq!(
            suggestion.name.chars().count(),
            discord::autocomplete::MAX_CHOICE_CHARS
        );
        assert_eq!(
            suggestion.value,
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
        );
    }
}
