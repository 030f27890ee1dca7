//! Audio filters as listeners ask for them: the presets (one table of data, [`PRESETS`]), a
//! preset laid over the filters a player has, the custom settings (one equalizer band, the
//! timescale), and what is active, in words. The result is always Lavalink's own `filters` object
//! ([`Filters`]): that is what the node plays, what the store keeps and what a failover carries.

use lavalink::model::{
    Equalizer, Filters, Karaoke, LowPass, Rotation, Timescale, Tremolo, Vibrato,
};

/// The equalizer's bands: 0 (25 Hz) to 14 (16 kHz).
pub const EQUALIZER_BANDS: u8 = 15;
/// The lowest gain of a band (Lavalink: -0.25 mutes it).
pub const MIN_GAIN: f32 = -0.25;
/// The highest gain of a band (Lavalink: 1.0 doubles it).
pub const MAX_GAIN: f32 = 1.0;
/// The slowest timescale factor a listener may set (speed, pitch, rate).
pub const MIN_TIMESCALE: f64 = 0.25;
/// The fastest timescale factor a listener may set.
pub const MAX_TIMESCALE: f64 = 3.0;

/// The filters a preset sets; each `None` leaves that filter as the player has it, so presets
/// that touch different filters stack (bass boost with nightcore) and one touching the same filter
/// replaces it (vaporwave after nightcore).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer {
    /// The whole equalizer (bands not listed are flat).
    pub equalizer: Option<&'static [Equalizer]>,
    /// Vocal elimination.
    pub karaoke: Option<Karaoke>,
    /// Speed, pitch, rate.
    pub timescale: Option<Timescale>,
    /// Volume oscillation.
    pub tremolo: Option<Tremolo>,
    /// Pitch oscillation.
    pub vibrato: Option<Vibrato>,
    /// Panning around the listener.
    pub rotation: Option<Rotation>,
    /// Low-pass smoothing.
    pub low_pass: Option<LowPass>,
}

const NONE: Layer = Layer {
    equalizer: None,
    karaoke: None,
    timescale: None,
    tremolo: None,
    vibrato: None,
    rotation: None,
    low_pass: None,
};

/// One named preset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Its name, as typed in `/filter preset`, and its `preset` label in the metrics.
    pub name: &'static str,
    /// What it sounds like, for Discord's choice list and `/help`.
    pub description: &'static str,
    /// What it sets.
    pub layer: Layer,
}

const fn band(band: u8, gain: f32) -> Equalizer {
    Equalizer { band, gain }
}

const fn timescale(speed: f64, pitch: f64, rate: f64) -> Timescale {
    Timescale {
        speed: Some(speed),
        pitch: Some(pitch),
        rate: Some(rate),
    }
}

/// Every preset, in the order Discord lists them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "bassboost-low",
        description: "Bass boost, light",
        layer: Layer {
            equalizer: Some(&[band(0, 0.10), band(1, 0.08), band(2, 0.05), band(3, 0.02)]),
            ..NONE
        },
    },
    Preset {
        name: "bassboost-medium",
        description: "Bass boost, medium",
        layer: Layer {
            equalizer: Some(&[band(0, 0.20), band(1, 0.15), band(2, 0.10), band(3, 0.05)]),
            ..NONE
        },
    },
    Preset {
        name: "bassboost-high",
        description: "Bass boost, heavy",
        layer: Layer {
            equalizer: Some(&[
                band(0, 0.35),
                band(1, 0.30),
                band(2, 0.20),
                band(3, 0.10),
                band(4, 0.05),
            ]),
            ..NONE
        },
    },
    Preset {
        name: "soft",
        description: "Softer highs (a gentle treble cut)",
        layer: Layer {
            equalizer: Some(&[
                band(9, -0.05),
                band(10, -0.10),
                band(11, -0.15),
                band(12, -0.20),
                band(13, -0.25),
                band(14, -0.25),
            ]),
            ..NONE
        },
    },
    Preset {
        name: "nightcore",
        description: "Nightcore: faster and higher",
        layer: Layer {
            timescale: Some(timescale(1.2, 1.2, 1.0)),
            ..NONE
        },
    },
    Preset {
        name: "vaporwave",
        description: "Vaporwave: slower and lower",
        layer: Layer {
            timescale: Some(timescale(0.85, 0.8, 1.0)),
            ..NONE
        },
    },
    Preset {
        name: "8d",
        description: "8D: the sound circles around you",
        layer: Layer {
            rotation: Some(Rotation {
                rotation_hz: Some(0.2),
            }),
            ..NONE
        },
    },
    Preset {
        name: "karaoke",
        description: "Karaoke: lead vocals lowered",
        layer: Layer {
            karaoke: Some(Karaoke {
                level: Some(1.0),
                mono_level: Some(1.0),
                filter_band: Some(220.0),
                filter_width: Some(100.0),
            }),
            ..NONE
        },
    },
    Preset {
        name: "tremolo",
        description: "Tremolo: the volume wavers",
        layer: Layer {
            tremolo: Some(Tremolo {
                frequency: Some(4.0),
                depth: Some(0.75),
            }),
            ..NONE
        },
    },
    Preset {
        name: "vibrato",
        description: "Vibrato: the pitch wavers",
        layer: Layer {
            vibrato: Some(Vibrato {
                frequency: Some(4.0),
                depth: Some(0.75),
            }),
            ..NONE
        },
    },
    Preset {
        name: "lowpass",
        description: "Low-pass: muffled, as from the next room",
        layer: Layer {
            low_pass: Some(LowPass {
                smoothing: Some(20.0),
            }),
            ..NONE
        },
    },
];

/// The names of every preset, in [`PRESETS`] order.
pub const PRESET_NAMES: [&str; PRESETS.len()] = {
    let mut names = [""; PRESETS.len()];
    let mut i = 0;
    while i < PRESETS.len() {
        names[i] = PRESETS[i].name;
        i += 1;
    }
    names
};

/// The preset with this name.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}

/// What a filter change asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterChange {
    /// Lay a preset over the current filters.
    Preset(&'static Preset),
    /// Set one equalizer band's gain (0 makes it flat again).
    Band {
        /// The band, 0 to 14.
        band: u8,
        /// The gain, [`MIN_GAIN`] to [`MAX_GAIN`].
        gain: f32,
    },
    /// Set the timescale factors given; the others keep their value (1.0 if unset). All three at
    /// 1.0 remove the timescale.
    Timescale {
        /// Speed.
        speed: Option<f64>,
        /// Pitch.
        pitch: Option<f64>,
        /// Rate.
        rate: Option<f64>,
    },
    /// No filters at all.
    Reset,
}

impl FilterChange {
    /// Its `preset` label in the metrics: the preset's name, `equalizer`, `timescale` or
    /// `reset` (a bounded set).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Preset(preset) => preset.name,
            Self::Band { .. } => "equalizer",
            Self::Timescale { .. } => "timescale",
            Self::Reset => "reset",
        }
    }

    /// The filters after this change to `current`.
    pub fn apply(&self, current: &Filters) -> Filters {
        match self {
            Self::Preset(preset) => with_layer(current, &preset.layer),
            Self::Band { band, gain } => with_band(current, *band, *gain),
            Self::Timescale { speed, pitch, rate } => {
                let mut filters = current.clone();
                let old = filters.timescale.unwrap_or_default();
                let factor = |new: Option<f64>, old: Option<f64>| new.or(old).unwrap_or(1.0);
                let set = Timescale {
                    speed: Some(factor(*speed, old.speed)),
                    pitch: Some(factor(*pitch, old.pitch)),
                    rate: Some(factor(*rate, old.rate)),
                };
                let flat = [set.speed, set.pitch, set.rate]
                    .iter()
                    .all(|f| f.is_some_and(|f| (f - 1.0).abs() < f64::EPSILON));
                filters.timescale = (!flat).then_some(set);
                filters
            }
            Self::Reset => Filters::default(),
        }
    }
}

fn with_layer(current: &Filters, layer: &Layer) -> Filters {
    let mut filters = current.clone();
    if let Some(equalizer) = layer.equalizer {
        filters.equalizer = Some(equalizer.to_vec());
    }
    if layer.karaoke.is_some() {
        filters.karaoke = layer.karaoke;
    }
    if layer.timescale.is_some() {
        filters.timescale = layer.timescale;
    }
    if layer.tremolo.is_some() {
        filters.tremolo = layer.tremolo;
    }
    if layer.vibrato.is_some() {
        filters.vibrato = layer.vibrato;
    }
    if layer.rotation.is_some() {
        filters.rotation = layer.rotation;
    }
    if layer.low_pass.is_some() {
        filters.low_pass = layer.low_pass;
    }
    filters
}

fn with_band(current: &Filters, band: u8, gain: f32) -> Filters {
    let mut filters = current.clone();
    let mut bands: Vec<Equalizer> = filters
        .equalizer
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.band != band)
        .collect();
    if gain != 0.0 {
        bands.push(Equalizer { band, gain });
        bands.sort_by_key(|b| b.band);
    }
    filters.equalizer = (!bands.is_empty()).then_some(bands);
    filters
}

/// Whether `preset` is active: every filter it sets is exactly as it sets it.
fn is_active(filters: &Filters, layer: &Layer) -> bool {
    fn matches<T: PartialEq + Copy>(wanted: Option<T>, have: Option<T>) -> bool {
        wanted.is_none() || wanted == have
    }
    layer
        .equalizer
        .is_none_or(|bands| filters.equalizer.as_deref() == Some(bands))
        && matches(layer.karaoke, filters.karaoke)
        && matches(layer.timescale, filters.timescale)
        && matches(layer.tremolo, filters.tremolo)
        && matches(layer.vibrato, filters.vibrato)
        && matches(layer.rotation, filters.rotation)
        && matches(layer.low_pass, filters.low_pass)
}

/// The active filters in words, for `/nowplaying` and the answers: the presets that are on, then
/// whatever else is set (custom settings, or filters set outside the bot). Empty when none is.
pub fn describe(filters: &Filters) -> Vec<String> {
    let active: Vec<&Preset> = PRESETS
        .iter()
        .filter(|preset| is_active(filters, &preset.layer))
        .collect();
    let explained = |f: fn(&Layer) -> bool| active.iter().any(|preset| f(&preset.layer));
    let mut words: Vec<String> = active.iter().map(|p| p.name.to_owned()).collect();
    if let Some(bands) = &filters.equalizer
        && !explained(|l| l.equalizer.is_some())
    {
        let bands: Vec<String> = bands
            .iter()
            .map(|b| format!("{}: {:+.2}", b.band, b.gain))
            .collect();
        words.push(format!("equalizer ({})", bands.join(", ")));
    }
    if let Some(t) = filters.timescale
        && !explained(|l| l.timescale.is_some())
    {
        words.push(format!(
            "timescale (speed {:.2}, pitch {:.2}, rate {:.2})",
            t.speed.unwrap_or(1.0),
            t.pitch.unwrap_or(1.0),
            t.rate.unwrap_or(1.0)
        ));
    }
    let others = [
        (
            filters.karaoke.is_some() && !explained(|l| l.karaoke.is_some()),
            "karaoke (custom)",
        ),
        (
            filters.tremolo.is_some() && !explained(|l| l.tremolo.is_some()),
            "tremolo (custom)",
        ),
        (
            filters.vibrato.is_some() && !explained(|l| l.vibrato.is_some()),
            "vibrato (custom)",
        ),
        (
            filters.rotation.is_some() && !explained(|l| l.rotation.is_some()),
            "rotation (custom)",
        ),
        (
            filters.low_pass.is_some() && !explained(|l| l.low_pass.is_some()),
            "low-pass (custom)",
        ),
        (filters.volume.is_some(), "volume filter"),
        (filters.distortion.is_some(), "distortion"),
        (filters.channel_mix.is_some(), "channel mix"),
        (!filters.plugin_filters.is_empty(), "plugin filters"),
    ];
    words.extend(
        others
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, word)| (*word).to_owned()),
    );
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> FilterChange {
        FilterChange::Preset(preset(name).expect("a preset"))
    }

    #[test]
    fn presets_have_unique_names_and_valid_values() {
        let mut names: Vec<&str> = PRESET_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PRESETS.len());
        // Discord takes at most 25 choices.
        assert!(PRESETS.len() <= 25);
        for preset in PRESETS {
            assert!(preset.name.len() <= 100 && preset.description.len() <= 100);
            for band in preset.layer.equalizer.unwrap_or_default() {
                assert!(band.band < EQUALIZER_BANDS, "{}", preset.name);
                assert!(
                    (MIN_GAIN..=MAX_GAIN).contains(&band.gain),
                    "{}",
                    preset.name
                );
            }
            assert_ne!(
                named(preset.name).apply(&Filters::default()),
                Filters::default(),
                "{} sets something",
                preset.name
            );
        }
    }

    #[test]
    fn presets_on_different_filters_stack_and_on_the_same_filter_replace() {
        let boosted = named("bassboost-high").apply(&Filters::default());
        let both = named("nightcore").apply(&boosted);
        assert_eq!(describe(&both), ["bassboost-high", "nightcore"]);
        let swapped = named("vaporwave").apply(&both);
        assert_eq!(describe(&swapped), ["bassboost-high", "vaporwave"]);
        let lighter = named("bassboost-low").apply(&swapped);
        assert_eq!(describe(&lighter), ["bassboost-low", "vaporwave"]);
        assert_eq!(FilterChange::Reset.apply(&lighter), Filters::default());
        assert!(describe(&Filters::default()).is_empty());
    }

    #[test]
    fn a_custom_band_changes_a_preset_into_a_custom_equalizer() {
        let boosted = named("bassboost-low").apply(&Filters::default());
        let custom = FilterChange::Band { band: 7, gain: 0.3 }.apply(&boosted);
        assert_eq!(
            describe(&custom),
            ["equalizer (0: +0.10, 1: +0.08, 2: +0.05, 3: +0.02, 7: +0.30)"]
        );
        // Setting a band to 0 removes it; the last one removes the equalizer.
        let flat = FilterChange::Band { band: 7, gain: 0.0 }.apply(&custom);
        assert_eq!(describe(&flat), ["bassboost-low"]);
        let single = FilterChange::Band { band: 3, gain: 0.5 }.apply(&Filters::default());
        let none = FilterChange::Band { band: 3, gain: 0.0 }.apply(&single);
        assert_eq!(none.equalizer, None);
    }

    #[test]
    fn timescale_keeps_the_factors_not_given_and_disappears_when_flat() {
        let fast = FilterChange::Timescale {
            speed: Some(1.5),
            pitch: None,
            rate: None,
        }
        .apply(&Filters::default());
        assert_eq!(fast.timescale, Some(timescale(1.5, 1.0, 1.0)));
        let higher = FilterChange::Timescale {
            speed: None,
            pitch: Some(1.25),
            rate: None,
        }
        .apply(&fast);
        assert_eq!(higher.timescale, Some(timescale(1.5, 1.25, 1.0)));
        assert_eq!(
            describe(&higher),
            ["timescale (speed 1.50, pitch 1.25, rate 1.00)"]
        );
        let flat = FilterChange::Timescale {
            speed: Some(1.0),
            pitch: Some(1.0),
            rate: None,
        }
        .apply(&higher);
        assert_eq!(flat.timescale, None);
        // The nightcore preset's factors, set by hand, read as the preset.
        let by_hand = FilterChange::Timescale {
            speed: Some(1.2),
            pitch: Some(1.2),
            rate: Some(1.0),
        }
        .apply(&Filters::default());
        assert_eq!(describe(&by_hand), ["nightcore"]);
    }

    #[test]
    fn labels_are_bounded() {
        let mut labels: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        labels.extend(["equalizer", "timescale", "reset"]);
        for change in [
            FilterChange::Band { band: 0, gain: 0.1 },
            FilterChange::Reset,
            FilterChange::Timescale {
                speed: None,
                pitch: None,
                rate: None,
            },
            named("8d"),
        ] {
            assert!(labels.contains(&change.label()));
        }
    }
}
