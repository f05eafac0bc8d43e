//! Checks that a compiled module is a polypact module before it is kept.
//!
//! This file owns the shape a module must have: the exports of
//! [`polypact_sdk::abi`] with their signatures, a 32-bit unshared memory
//! within the limits, and no imports but the host functions of `imports.rs`
//! with their exact signatures. It does not check behaviour (the ABI version
//! a module returns is checked when it runs).

use std::fmt;

use polypact_sdk::abi::{
    EXPORT_ABI_VERSION, EXPORT_ALLOC, EXPORT_HANDLE, EXPORT_INIT, EXPORT_MIGRATE, EXPORT_QUERY, IMPORT_MODULE,
};
use wasmtime::{ExternType, FuncType, Module, ValType};

use super::config::GuestLimits;
use super::imports::IMPORTS;

/// The name of the memory export.
pub(super) const EXPORT_MEMORY: &str = "memory";

/// A value type of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

/// A function signature of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sig {
    /// Parameter types.
    pub(super) params: &'static [Ty],
    /// Result types.
    pub(super) results: &'static [Ty],
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |types: &[Ty]| types.iter().map(|t| t.name()).collect::<Vec<_>>();
        f.write_str(&signature(&names(self.params), &names(self.results)))
    }
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::I32 => "i32",
            Ty::I64 => "i64",
        }
    }
}

/// `(a, b) -> c`, `(a) -> (b, c)` or `(a)`.
fn signature<S: AsRef<str>>(params: &[S], results: &[S]) -> String {
    let list = |types: &[S]| types.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    match results {
        [] => format!("({})", list(params)),
        [one] => format!("({}) -> {}", list(params), one.as_ref()),
        more => format!("({}) -> ({})", list(params), list(more)),
    }
}

/// Whether a wasmtime function type is exactly `sig`.
fn matches(ty: &FuncType, sig: Sig) -> bool {
    let same = |actual: &mut dyn ExactSizeIterator<Item = ValType>, expected: &[Ty]| {
        actual.len() == expected.len()
            && actual.zip(expected).all(|(a, e)| match e {
                Ty::I32 => matches!(a, ValType::I32),
                Ty::I64 => matches!(a, ValType::I64),
            })
    };
    same(&mut ty.params(), sig.params) && same(&mut ty.results(), sig.results)
}

/// Renders a wasmtime function type like [`Sig`] does.
fn render(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().map(|t| t.to_string()).collect();
    let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
    signature(&params, &results)
}

const ENTRY: Sig = Sig { params: &[Ty::I32, Ty::I32], results: &[Ty::I64] };

/// The function exports every module must have.
const REQUIRED_EXPORTS: [(&str, Sig); 5] = [
    (EXPORT_ABI_VERSION, Sig { params: &[], results: &[Ty::I32] }),
    (EXPORT_ALLOC, Sig { params: &[Ty::I32], results: &[Ty::I32] }),
    (EXPORT_INIT, ENTRY),
    (EXPORT_HANDLE, ENTRY),
    (EXPORT_QUERY, ENTRY),
];

/// What the host learnt about a valid module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape {
    /// Whether it exports `polypact_migrate` (and so may be upgraded to).
    pub(super) has_migrate: bool,
}

/// Checks `module`; on failure, every problem found, joined by `; `.
pub(super) fn check(module: &Module, limits: &GuestLimits) -> Result<Shape, String> {
    let mut problems = Vec::new();
    check_imports(module, &mut problems);
    let has_migrate = check_exports(module, &mut problems);
    check_resources(module, limits, &mut problems);
    if problems.is_empty() { Ok(Shape { has_migrate }) } else { Err(problems.join("; ")) }
}

fn check_imports(module: &Module, problems: &mut Vec<String>) {
    let provided = || IMPORTS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    for import in module.imports() {
        let (from, name) = (import.module(), import.name());
        if from != IMPORT_MODULE {
            problems.push(format!(
                "imports `{from}`.`{name}`, but a polypact module may import only functions of module \
                 `{IMPORT_MODULE}` ({}); WASI and other host APIs are not available",
                provided()
            ));
            continue;
        }
        let Some((_, sig)) = IMPORTS.iter().find(|(known, _)| *known == name) else {
            problems.push(format!(
                "imports `{from}`.`{name}`, which this host does not provide (it provides {})",
                provided()
            ));
            continue;
        };
        match import.ty() {
            ExternType::Func(ty) if matches(&ty, *sig) => {}
            ExternType::Func(ty) => problems.push(format!(
                "imports `{from}`.`{name}` with signature {}, but the host's is {sig}",
                render(&ty)
            )),
            _ => {
                problems.push(format!("imports `{from}`.`{name}` as a non-function; it is a function {sig}"))
            }
        }
    }
}

/// Checks the exports; returns whether `polypact_migrate` is there.
fn check_exports(module: &Module, problems: &mut Vec<String>) -> bool {
    for (name, sig) in REQUIRED_EXPORTS {
        check_func_export(module, name, sig, problems, true);
    }
    let has_migrate = check_func_export(module, EXPORT_MIGRATE, ENTRY, problems, false);
    match module.get_export(EXPORT_MEMORY) {
        Some(ExternType::Memory(memory)) => {
            if memory.is_64() {
                problems
                    .push("export `memory` is a 64-bit memory; polypact modules use a 32-bit memory".into());
            }
            if memory.is_shared() {
                problems
                    .push("export `memory` is a shared memory; polypact modules are single-threaded".into());
            }
        }
        Some(_) => problems.push("export `memory` is not a memory".into()),
        None => problems.push("missing export `memory` (the module's linear memory)".into()),
    }
    has_migrate
}

/// Checks one function export; returns whether it is present and right.
fn check_func_export(
    module: &Module,
    name: &str,
    sig: Sig,
    problems: &mut Vec<String>,
    required: bool,
) -> bool {
    match module.get_export(name) {
        Some(ExternType::Func(ty)) if matches(&ty, sig) => true,
        Some(ExternType::Func(ty)) => {
            problems.push(format!("export `{name}` has signature {}, expected {sig}", render(&ty)));
            false
        }
        Some(_) => {
            problems.push(format!("export `{name}` is not a function; expected a function {sig}"));
            false
        }
        None if required => {
            problems.push(format!(
                "missing export `{name}` {sig}; build the module with the polypact SDK's entry-point macro"
            ));
            false
        }
        None => false,
    }
}

fn check_resources(module: &Module, limits: &GuestLimits, problems: &mut Vec<String>) {
    let resources = module.resources_required();
    if resources.num_memories > 1 {
        problems.push(format!("defines {} memories; a polypact module has one", resources.num_memories));
    }
    if resources.num_tables > 1 {
        problems.push(format!("defines {} tables; a polypact module has at most one", resources.num_tables));
    }
    let page = 64 * 1024u64;
    if let Some(pages) = resources.max_initial_memory_size
        && pages.saturating_mul(page) > limits.max_memory_bytes
    {
        problems.push(format!(
            "its memory starts at {pages} pages ({} bytes), over the limit of {} bytes",
            pages.saturating_mul(page),
            limits.max_memory_bytes
        ));
    }
    if let Some(elements) = resources.max_initial_table_size
        && elements > u64::from(limits.max_table_elements)
    {
        problems.push(format!(
            "its table starts at {elements} elements, over the limit of {}",
            limits.max_table_elements
        ));
    }
}
