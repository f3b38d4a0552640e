//! Settings defined once: [`settings!`] takes a list of fields, each with its doc, its type,
//! its default, its flag and (for a door's) the flat TOML name it had before doors had tables
//! of their own, and makes of it the configuration struct (serde, every field optional in the
//! file, unknown ones refused), its flags (clap, every one optional, the default in its help),
//! how the flags given override it, and the table of it all that `docs/settings.md` is checked
//! against. [`Setting`] says how each type is parsed from a flag and shown as a default.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A type a setting may have: how its flag parses, and how its value reads in docs.
pub trait Setting: Sized {
    /// What its flag parses into.
    type Flag: Clone + Send + Sync + 'static;
    fn parse(flag: &str) -> Result<Self::Flag, String>;
    fn from_flag(flag: Self::Flag) -> Self;
    /// The value as the docs and `--help` say it (`none` for nothing).
    fn show(&self) -> String;
    /// What the flag means given bare, with no value (a switch: `true`); `None`: it needs one.
    const BARE: Option<&'static str> = None;
}

fn parsed<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.trim().parse().map_err(|e| format!("{text:?}: {e}"))
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Setting for $t {
            type Flag = $t;
            fn parse(flag: &str) -> Result<$t, String> {
                parsed(flag)
            }
            fn from_flag(flag: $t) -> $t {
                flag
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
plain!(u32, u64, usize, SocketAddr);

/// A switch: `--flag` alone is `--flag true`.
impl Setting for bool {
    type Flag = bool;
    fn parse(flag: &str) -> Result<bool, String> {
        parsed(flag)
    }
    fn from_flag(flag: bool) -> bool {
        flag
    }
    fn show(&self) -> String {
        self.to_string()
    }
    const BARE: Option<&'static str> = Some("true");
}

impl Setting for String {
    type Flag = String;
    fn parse(flag: &str) -> Result<String, String> {
        Ok(flag.to_owned())
    }
    fn from_flag(flag: String) -> String {
        flag
    }
    fn show(&self) -> String {
        match self.is_empty() {
            true => "none".to_owned(),
            false => self.clone(),
        }
    }
}

impl Setting for PathBuf {
    type Flag = PathBuf;
    fn parse(flag: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(flag))
    }
    fn from_flag(flag: PathBuf) -> PathBuf {
        flag
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// Optional: a flag gives it; `none` by default.
impl<T: Setting<Flag = T> + Clone + Send + Sync + 'static> Setting for Option<T> {
    type Flag = T;
    fn parse(flag: &str) -> Result<T, String> {
        T::parse(flag)
    }
    fn from_flag(flag: T) -> Option<T> {
        Some(flag)
    }
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "none".to_owned(), T::show)
    }
}

/// A comma-separated list on the command line (`none`: empty).
#[derive(Debug, Clone)]
pub struct List<T>(pub Vec<T>);

impl<T: Setting<Flag = T> + Clone + Send + Sync + 'static> Setting for Vec<T> {
    type Flag = List<T>;
    fn parse(flag: &str) -> Result<List<T>, String> {
        match flag.trim() {
            "none" | "" => Ok(List(Vec::new())),
            list => list.split(',').map(T::parse).collect::<Result<_, _>>().map(List),
        }
    }
    fn from_flag(flag: List<T>) -> Vec<T> {
        flag.0
    }
    fn show(&self) -> String {
        match self.is_empty() {
            true => "none".to_owned(),
            false => self.iter().map(T::show).collect::<Vec<_>>().join(","),
        }
    }
}

impl Setting for ipnet::IpNet {
    type Flag = ipnet::IpNet;
    fn parse(flag: &str) -> Result<ipnet::IpNet, String> {
        parsed(flag)
    }
    fn from_flag(flag: ipnet::IpNet) -> ipnet::IpNet {
        flag
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// One setting, as the docs list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Its TOML name, in its table (`doors.chatos.addr`, `data_dir`).
    pub toml: String,
    /// Its flag, with its value's name (`--chatos-addr HOST:PORT`).
    pub flag: String,
    /// Its default, as `--help` shows it.
    pub default: String,
    /// What it is (its doc, on one line).
    pub doc: String,
    /// Its TOML name before doors had tables of their own, still accepted at the top level.
    pub legacy: Option<&'static str>,
}

/// A doc comment's lines as one line.
pub fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A flag's help: its doc, and its default.
pub fn help(doc: &str, default: &str) -> String {
    format!("{} [default: {default}]", one_line(doc))
}

/// Defines a settings struct, its flags, and its table (see the module's doc). First, tables
/// of settings within it (`table doors: Doors, flags DoorsFlags;`: `[doors.chatos]`), each a
/// struct with `described` and `legacy` of its own; then each field: `/// doc` lines,
/// `name: Type = default, flag "NAME", value "VALUE"`, and for a door's setting
/// `, legacy "flat_toml_name"`.
macro_rules! settings {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident, flags $flags:ident {
            $( table $table:ident : $tty:ty, flags $tflags:ty ; )*
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $default:expr, flag $flag:literal, value $value:literal
                $(, legacy $legacy:literal)? ;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( pub $table: $tty, )*
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $table: <$tty>::default(), )* $( $field: $default, )* }
            }
        }

        #[doc = concat!("The flags of [`", stringify!($name), "`]: each one given wins over the file.")]
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct $flags {
            $( #[command(flatten)] pub $table: $tflags, )*
            $(
                #[arg(
                    id = $flag,
                    long = $flag,
                    value_name = $value,
                    value_parser = |s: &str| <$ty as $crate::settings::Setting>::parse(s),
                    num_args = match <$ty as $crate::settings::Setting>::BARE { Some(_) => 0..=1, None => 1..=1 },
                    default_missing_value = <$ty as $crate::settings::Setting>::BARE,
                    help = $crate::settings::help(
                        concat!($($doc, " "),+),
                        &$crate::settings::Setting::show(&{ let default: $ty = $default; default }),
                    ),
                )]
                pub $field: Option<<$ty as $crate::settings::Setting>::Flag>,
            )*
        }

        impl $flags {
            /// Sets in `config` what was given.
            pub fn apply(self, config: &mut $name) {
                $( self.$table.apply(&mut config.$table); )*
                $( if let Some(flag) = self.$field {
                    config.$field = <$ty as $crate::settings::Setting>::from_flag(flag);
                } )*
            }
        }

        impl $name {
            /// Every setting of it, as the docs list them; `table`: where it is in the TOML
            /// file (`doors.chatos`, or empty at the top).
            #[allow(unused_variables, unused_mut)]
            pub fn described(table: &str) -> Vec<$crate::settings::Described> {
                let defaults = $name::default();
                let mut all = vec![$(
                    $crate::settings::Described {
                        toml: match table {
                            "" => stringify!($field).to_owned(),
                            table => format!("{table}.{}", stringify!($field)),
                        },
                        flag: format!("--{} {}", $flag, $value),
                        default: $crate::settings::Setting::show(&defaults.$field),
                        doc: $crate::settings::one_line(concat!($($doc, " "),+)),
                        legacy: [$($legacy)?].first().copied(),
                    },
                )*];
                $( all.extend(<$tty>::described(stringify!($table))); )*
                all
            }

            /// The flat TOML names its settings had before (`chatos_addr`), and theirs now.
            pub fn legacy() -> &'static [(&'static str, &'static str)] {
                &[$( $( ($legacy, stringify!($field)), )? )*]
            }
        }
    };
}
pub(crate) use settings;

#[cfg(test)]
mod tests {
    use super::*;

    settings! {
        /// A door's, for the test.
        pub struct Example, flags ExampleFlags {
            /// Where it listens.
            addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 7700)), flag "ex-addr", value "HOST:PORT", legacy "ex_addr";
            /// Its TLS door,
            /// on two lines.
            tls_addr: Option<SocketAddr> = None, flag "ex-tls-addr", value "HOST:PORT";
            /// Networks.
            nets: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap()], flag "ex-nets", value "CIDR,...";
            /// A size.
            max: usize = 1024, flag "ex-max", value "BYTES", legacy "ex_max";
            /// A switch.
            plain: bool = false, flag "ex-plain", value "BOOL";
        }
    }

    fn flags(args: &[&str]) -> ExampleFlags {
        use clap::{Args, FromArgMatches};
        let command = ExampleFlags::augment_args(clap::Command::new("t"));
        ExampleFlags::from_arg_matches(&command.try_get_matches_from(args).unwrap()).unwrap()
    }

    #[test]
    fn one_list_makes_the_struct_its_flags_its_file_and_its_docs() {
        let file: Example = toml::from_str("max = 16\nnets = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!((file.max, file.addr.port()), (16, 7700), "the file's, else the defaults");
        assert!(toml::from_str::<Example>("maxx = 1").is_err(), "unknown fields are refused");
        let mut config = file.clone();
        flags(&["t", "--ex-max", "32", "--ex-tls-addr", "127.0.0.1:1"]).apply(&mut config);
        assert_eq!((config.max, config.tls_addr), (32, Some("127.0.0.1:1".parse().unwrap())), "flags win");
        assert_eq!(config.nets, file.nets, "what no flag gave stays the file's");
        flags(&["t", "--ex-nets", "none"]).apply(&mut config);
        assert!(config.nets.is_empty());
        flags(&["t", "--ex-nets", "10.0.0.0/8,fd00::/8"]).apply(&mut config);
        assert_eq!(config.nets.len(), 2);
        assert!(!config.plain);
        flags(&["t", "--ex-plain"]).apply(&mut config);
        assert!(config.plain, "a switch given bare is on");
        flags(&["t", "--ex-plain", "false"]).apply(&mut config);
        assert!(!config.plain, "and may be given its value");
        assert!(flags(&["t", "--ex-plain", "--ex-max", "8"]).max == Some(8), "a bare switch takes no next flag");
        let mut command = <ExampleFlags as clap::Args>::augment_args(clap::Command::new("t"));
        assert!(command.clone().try_get_matches_from(["t", "--ex-max", "lots"]).is_err());
        let help = command.render_help().to_string();
        assert!(help.contains("Its TLS door, on two lines. [default: none]"), "{help}");
        assert!(help.contains("Networks. [default: 127.0.0.0/8]"), "{help}");
        let described = Example::described("doors.ex");
        assert_eq!(described[0].toml, "doors.ex.addr");
        assert_eq!(described[0].flag, "--ex-addr HOST:PORT");
        assert_eq!(described[0].default, "0.0.0.0:7700");
        assert_eq!(described[1].doc, "Its TLS door, on two lines.");
        assert_eq!(Example::legacy(), [("ex_addr", "addr"), ("ex_max", "max")]);
    }
}
