//! Where a value sits in the document being checked: a chain of steps on the stack, written
//! out as a JSON pointer (RFC 6901) only when a violation names it. Writing the pointer of
//! every property checked cost more than checking it (measured on `$api_request`: 2,500 of
//! 7,300 instructions per event went to pointers no violation used).

use std::fmt::Write;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Pointer<'a> {
    /// Where the walk starts, already a pointer (`""`, `"/properties"`).
    Root(&'a str),
    /// A member of the object at the parent.
    Key(&'a Pointer<'a>, &'a str),
    /// An item of the array at the parent.
    Index(&'a Pointer<'a>, usize),
}

impl<'a> Pointer<'a> {
    /// The member `key` of the object here.
    pub fn key(&'a self, key: &'a str) -> Pointer<'a> {
        Pointer::Key(self, key)
    }

    /// The item `index` of the array here.
    pub fn index(&'a self, index: usize) -> Pointer<'a> {
        Pointer::Index(self, index)
    }

    /// The JSON pointer, `~` and `/` in keys escaped.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match *self {
            Pointer::Root(root) => out.push_str(root),
            Pointer::Key(parent, key) => {
                parent.write(out);
                out.push('/');
                for c in key.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Pointer::Index(parent, index) => {
                parent.write(out);
                let _ = write!(out, "/{index}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pointer;

    #[test]
    fn written_only_when_asked_and_escaped() {
        let root = Pointer::Root("/properties");
        let a = root.key("a/b");
        let item = a.index(3);
        let leaf = item.key("c~d");
        assert_eq!(leaf.text(), "/properties/a~1b/3/c~0d");
        assert_eq!(Pointer::Root("").key("").text(), "/");
    }
}
