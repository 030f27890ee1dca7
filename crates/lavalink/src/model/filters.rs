//! Audio filters. Every field is optional: an absent filter is off.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The complete filter set of a player. PATCHing `filters` replaces the whole set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    /// Volume multiplier, 0.0 to 5.0 (1.0 is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f32>,
    /// Up to 15 bands (0 to 14) with gains from -0.25 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalizer: Option<Vec<Equalizer>>,
    /// Vocal elimination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub karaoke: Option<Karaoke>,
    /// Speed, pitch and rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timescale: Option<Timescale>,
    /// Volume oscillation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tremolo: Option<Tremolo>,
    /// Pitch oscillation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vibrato: Option<Vibrato>,
    /// Audio panning around the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Distortion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distortion: Option<Distortion>,
    /// Channel mixing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_mix: Option<ChannelMix>,
    /// Low-pass smoothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_pass: Option<LowPass>,
    /// Filters provided by plugins, by plugin name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub plugin_filters: Map<String, Value>,
}

/// One equalizer band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Equalizer {
    /// Band index, 0 to 14.
    pub band: u8,
    /// Gain, -0.25 to 1.0.
    pub gain: f32,
}

/// Karaoke filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Karaoke {
    /// Effect level, 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f32>,
    /// Mono level, 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mono_level: Option<f32>,
    /// Filter band in Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_band: Option<f32>,
    /// Filter width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_width: Option<f32>,
}

/// Timescale filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timescale {
    /// Playback speed, at least 0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Pitch, at least 0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitch: Option<f64>,
    /// Rate, at least 0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// Tremolo filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tremolo {
    /// Frequency, above 0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<f32>,
    /// Depth, above 0.0 and at most 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f32>,
}

/// Vibrato filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Vibrato {
    /// Frequency, above 0.0 and at most 14.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<f32>,
    /// Depth, above 0.0 and at most 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f32>,
}

/// Rotation filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// Rotation frequency in Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_hz: Option<f64>,
}

/// Distortion filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Distortion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sin_offset: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sin_scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cos_offset: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cos_scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tan_offset: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tan_scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
}

/// Channel mix filter; each factor 0.0 to 1.0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ChannelMix {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_to_left: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_to_right: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_to_left: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_to_right: Option<f32>,
}

/// Low-pass filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LowPass {
    /// Smoothing, above 1.0 to take effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<f32>,
}
