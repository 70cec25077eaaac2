//! The project reader on arbitrary text: a project or positioned
//! problems, never a panic, never unbounded time or memory (alias bombs,
//! duplicate keys, deep nesting, huge scalars).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let file = std::path::Path::new("ame.yaml");
        match modelgate::project::Project::parse(file, text) {
            Ok(project) => {
                // A valid file also resolves to a plan or to problems.
                let _ = modelgate::plan::Plan::build(&project);
            }
            Err(problems) => assert!(!problems.items.is_empty()),
        }
    }
});
