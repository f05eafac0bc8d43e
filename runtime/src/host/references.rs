//! Reads what a module declares about its config without running it: the
//! config fields that name other module instances, from the custom section
//! [`SECTION_REFERENCES`] that the SDK's `references!` writes.
//!
//! This file owns reading that section; checking a charter against it is
//! [`crate::op::reference_problems`].

use polypact_sdk::abi::SECTION_REFERENCES;

use super::HostError;
use crate::op::CodeHash;

/// The config fields `wasm` declares as naming other module instances, in
/// the order declared (none if it declares nothing). Every section of that
/// name counts; names are one a line.
pub fn declared_references(wasm: &[u8]) -> Result<Vec<String>, HostError> {
    let invalid = |reason: String| HostError::InvalidModule { code: CodeHash::of(wasm), reason };
    let mut fields: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| invalid(format!("cannot read it as WASM: {e}")))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == SECTION_REFERENCES
        {
            let text = std::str::from_utf8(section.data())
                .map_err(|_| invalid(format!("its `{SECTION_REFERENCES}` section is not UTF-8")))?;
            for field in text.lines().map(str::trim).filter(|f| !f.is_empty()) {
                if !fields.iter().any(|f| f == field) {
                    fields.push(field.to_owned());
                }
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A module with a custom section, in the WASM binary format.
    fn with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let mut body = vec![u8::try_from(name.len()).unwrap()];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        wasm.push(0);
        wasm.push(u8::try_from(body.len()).unwrap());
        wasm.extend(body);
        wasm
    }

    #[test]
    fn reads_the_declared_fields() {
        let wasm = with_section(SECTION_REFERENCES, b"governance\nmanagers\n");
        assert_eq!(declared_references(&wasm).unwrap(), ["governance", "managers"]);
        assert!(declared_references(&with_section("other", b"x\n")).unwrap().is_empty());
        assert!(declared_references(b"\0asm\x01\0\0\0").unwrap().is_empty());
        assert!(declared_references(b"not wasm").is_err());
    }

    /// The standard modules declare theirs (built by ./scripts/build-modules.sh).
    #[test]
    fn the_standard_modules_declare_their_references() {
        let expected: [(&str, &[&str]); 7] = [
            ("membership", &["governance", "managers"]),
            ("voting", &["membership", "module_proposers"]),
            ("treasury", &["membership", "governance", "exit_module", "split_managers"]),
            ("exit", &["membership", "governance", "treasury", "vesting", "term_module"]),
            ("term", &["membership", "governance", "exit", "treasury"]),
            ("vesting", &["membership", "governance", "exit_module", "term_module"]),
            ("guestbook", &[]),
        ];
        for (module, fields) in expected {
            let path = crate::testing::module_wasm_path(module);
            let wasm = std::fs::read(&path).expect("build the modules: ./scripts/build-modules.sh");
            assert_eq!(declared_references(&wasm).unwrap(), fields, "{module}");
        }
    }
}
