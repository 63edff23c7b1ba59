//! Raw bindings generated from `wit/peerpressure-plugin@0.1.0`. Plugin authors use the
//! re-exports and helpers of the crate root instead.

pub mod scenario {
    wit_bindgen::generate!({
        path: "../../wit/peerpressure-plugin@0.1.0",
        world: "scenario-plugin",
        pub_export_macro: true,
        export_macro_name: "export_scenario_world",
        default_bindings_module: "peerpressure_sdk::bindings::scenario",
        additional_derives: [PartialEq],
    });
}

pub mod detector {
    wit_bindgen::generate!({
        path: "../../wit/peerpressure-plugin@0.1.0",
        world: "detector-plugin",
        pub_export_macro: true,
        export_macro_name: "export_detector_world",
        default_bindings_module: "peerpressure_sdk::bindings::detector",
        // One set of types for both plugin kinds.
        with: {
            "peerpressure:plugin/types@0.1.0": crate::bindings::scenario::peerpressure::plugin::types,
            "peerpressure:plugin/log@0.1.0": crate::bindings::scenario::peerpressure::plugin::log,
        },
    });
}
