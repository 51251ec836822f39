//! `with_FIELD` setters for the config structs, which are
//! `#[non_exhaustive]` (fields can be added without breaking anyone), so
//! that code outside the crate builds them from their defaults:
//! `SourceConfig::default().with_minpoll(4).with_iburst(true)`.

/// Writes, for each `with_name => field: Type`, a method that returns the
/// config with that field set.
macro_rules! setters {
    (impl [$($generics:tt)*] $ty:ty { $($with:ident => $field:ident: $fty:ty,)* }) => {
        impl<$($generics)*> $ty {
            $(
                #[doc = concat!("This config with [`", stringify!($field), "`](Self::", stringify!($field), ") set to `value`.")]
                #[must_use]
                pub fn $with(mut self, value: $fty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
