//! Host-side bindings of the plugin interface, `wit/peerpressure-plugin@0.1.0`.
//!
//! The generated records stay inside the engine: [`crate::convert`] turns them into the plain
//! records of `peerpressure-types` at every call into or out of a plugin.

pub mod scenario {
    wasmtime::component::bindgen!({
        path: "../../wit/peerpressure-plugin@0.1.0",
        world: "scenario-plugin",
        imports: { default: trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod detector {
    wasmtime::component::bindgen!({
        path: "../../wit/peerpressure-plugin@0.1.0",
        world: "detector-plugin",
        imports: {
            "peerpressure:plugin/judge.complete": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "peerpressure:plugin/types": super::scenario::peerpressure::plugin::types,
            "peerpressure:plugin/log": super::scenario::peerpressure::plugin::log,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// The generated records of interface `judge`.
pub use detector::peerpressure::plugin::judge as wit_judge;
pub use scenario::peerpressure::plugin::log::Level as LogLevel;
/// The generated records of interface `types`.
pub use scenario::peerpressure::plugin::types as wit;
