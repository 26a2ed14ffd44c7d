//! `hoard models env`: the variables of a layout as a shell (or JSON) reads them, quoted so
//! that any path survives `eval`.

use crate::error::ModelsError;

/// Shell syntaxes `hoard models env` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `export NAME='value'` (sh, bash, zsh).
    Posix,
    /// `set -gx NAME 'value'`.
    Fish,
    /// `$env:NAME = 'value'`.
    PowerShell,
    /// One JSON object.
    Json,
}

impl Shell {
    /// Parses `sh`, `bash`, `zsh`, `fish`, `powershell`/`pwsh` or `json`.
    pub fn parse(name: &str) -> Option<Shell> {
        match name {
            "sh" | "bash" | "zsh" | "posix" => Some(Shell::Posix),
            "fish" => Some(Shell::Fish),
            "powershell" | "pwsh" => Some(Shell::PowerShell),
            "json" => Some(Shell::Json),
            _ => None,
        }
    }
}

impl std::str::FromStr for Shell {
    type Err = ModelsError;

    /// [`Shell::parse`], with an error that lists the shells.
    fn from_str(name: &str) -> Result<Shell, ModelsError> {
        Shell::parse(name).ok_or_else(|| ModelsError::UnknownShell(name.to_owned()))
    }
}

/// Renders `vars` for `shell`, quoted so that any path survives.
pub fn render_env(vars: &[(String, String)], shell: Shell) -> String {
    let single = |value: &str, escaped_quote: &str| value.replace('\'', escaped_quote);
    match shell {
        Shell::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            format!("{}\n", serde_json::Value::Object(map))
        }
        Shell::Posix => vars
            .iter()
            .map(|(k, v)| format!("export {k}='{}'\n", single(v, "'\\''")))
            .collect(),
        Shell::Fish => vars
            .iter()
            .map(|(k, v)| {
                format!(
                    "set -gx {k} '{}'\n",
                    v.replace('\\', "\\\\").replace('\'', "\\'")
                )
            })
            .collect(),
        Shell::PowerShell => vars
            .iter()
            .map(|(k, v)| format!("$env:{k} = '{}'\n", single(v, "''")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_parse_by_name_and_unknown_ones_are_listed() {
        assert_eq!("zsh".parse::<Shell>().unwrap(), Shell::Posix);
        assert_eq!("pwsh".parse::<Shell>().unwrap(), Shell::PowerShell);
        assert_eq!(
            "tcsh".parse::<Shell>().unwrap_err().to_string(),
            "unknown shell \"tcsh\": use sh, bash, zsh, fish, powershell or json"
        );
    }

    #[test]
    fn quoting_survives_awkward_paths() {
        let vars = vec![("X".to_owned(), "/a b/it's".to_owned())];
        assert_eq!(
            render_env(&vars, Shell::Posix),
            "export X='/a b/it'\\''s'\n"
        );
        assert_eq!(render_env(&vars, Shell::Fish), "set -gx X '/a b/it\\'s'\n");
        assert_eq!(
            render_env(&vars, Shell::PowerShell),
            "$env:X = '/a b/it''s'\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_env(&vars, Shell::Json)).unwrap();
        assert_eq!(json["X"], "/a b/it's");
    }
}
