//! Host bindings generated from the frozen 0.1 contract. A later contract
//! gets its own module next to this one; 0.1 plugins keep loading.

wasmtime::component::bindgen!({
    path: "../schema/wit/v0.1",
    world: "plugin",
    // The test harness reads inputs from JSON files and prints outputs.
    additional_derives: [serde::Serialize, serde::Deserialize],
});
