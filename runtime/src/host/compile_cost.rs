//! How costly a module is to compile, read off its bytes without compiling
//! it, and the runtime's rule that bounds it.
//!
//! Compiling a function costs roughly its locals times its blocks: every
//! local live across a block boundary becomes a value the compiler must
//! thread through it (a 180 KB function of 1,000 locals and 10,000 branches
//! took 7 s; see BENCHMARKS.md). Size alone does not bound that, so a
//! module is refused if any function, or the module as a whole, passes
//! [`MAX_FUNCTION_COMPILE_COST`] / [`MAX_MODULE_COMPILE_COST`]: a rule of the
//! runtime, the same on every node, decided before any compile starts. This
//! file owns the measure and the rule; it does not compile (`prepare.rs`).

use wasmparser::{Operator, Parser, Payload};

/// The most a function may cost to compile: its locals (parameters
/// included) times its blocks (`block`, `loop`, `if`). The standard
/// modules' costliest function costs 31,000 (treasury); a function at this
/// limit compiles in about half a second on the reference machine.
pub const MAX_FUNCTION_COMPILE_COST: u64 = 1_000_000;

/// The most a module may cost to compile: the sum over its functions. The
/// standard modules' costliest total is 321,000 (treasury).
pub const MAX_MODULE_COMPILE_COST: u64 = 20_000_000;

/// What compiling a module will cost, by the measure of this file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileCost {
    /// The costliest function's cost.
    pub max_function: u64,
    /// The index (among defined functions) of the costliest function.
    pub costliest: u32,
    /// The sum over all functions.
    pub total: u64,
}

impl CompileCost {
    /// Measures `wasm` (which must parse as WASM; the error says where not).
    pub fn of(wasm: &[u8]) -> Result<CompileCost, String> {
        let mut types: Vec<u64> = Vec::new();
        let mut function_types: Vec<u32> = Vec::new();
        let mut cost = CompileCost::default();
        let mut defined: u32 = 0;
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(|e| format!("cannot read it as WASM: {e}"))? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        let group = group.map_err(|e| e.to_string())?;
                        for ty in group.into_types() {
                            let params = match ty.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => f.params().len() as u64,
                                _ => 0,
                            };
                            types.push(params);
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        function_types.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let params = function_types
                        .get(defined as usize)
                        .and_then(|t| types.get(*t as usize))
                        .copied()
                        .unwrap_or(0);
                    let mut locals = params;
                    for group in body.get_locals_reader().map_err(|e| e.to_string())? {
                        let (count, _) = group.map_err(|e| e.to_string())?;
                        locals = locals.saturating_add(u64::from(count));
                    }
                    let mut blocks: u64 = 0;
                    let mut operators = body.get_operators_reader().map_err(|e| e.to_string())?;
                    while !operators.eof() {
                        if matches!(
                            operators.read().map_err(|e| e.to_string())?,
                            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. }
                        ) {
                            blocks += 1;
                        }
                    }
                    let function = locals.saturating_mul(blocks.max(1));
                    if function > cost.max_function {
                        cost.max_function = function;
                        cost.costliest = defined;
                    }
                    cost.total = cost.total.saturating_add(function);
                    defined += 1;
                }
                _ => {}
            }
        }
        Ok(cost)
    }

    /// The rule: `Err` names the function or the total that is too costly.
    pub fn check(&self) -> Result<(), String> {
        if self.max_function > MAX_FUNCTION_COMPILE_COST {
            return Err(format!(
                "function {} would cost {} to compile (locals times blocks), over the limit of \
                 {MAX_FUNCTION_COMPILE_COST}; split it or use fewer locals",
                self.costliest, self.max_function
            ));
        }
        if self.total > MAX_MODULE_COMPILE_COST {
            return Err(format!(
                "the module would cost {} to compile (locals times blocks, over all functions), over the \
                 limit of {MAX_MODULE_COMPILE_COST}",
                self.total
            ));
        }
        Ok(())
    }
}
