//! `cascade schema`: the JSON Schema of scenario files, for editors (yaml-language-server,
//! VS Code's YAML extension), generated from the types that read them.

/// The schema as pretty-printed JSON, ending in a newline.
pub fn json() -> String {
    let mut s = serde_json::to_string_pretty(&cascade_sim::scenario::json_schema())
        .expect("a schema serialises");
    s.push('\n');
    s
}

/// Prints the schema.
pub fn print() -> u8 {
    print!("{}", json());
    0
}
