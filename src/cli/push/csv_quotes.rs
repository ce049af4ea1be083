//! The quoting of a CSV file, checked before its rows are read. The csv crate reads a quoted
//! value left open to the end of the file, or text after a closing quote, without a word: an
//! inch mark exported as `"24 inch` swallowed every row after it into one cell, and the push
//! reported success. Such a file is refused whole, naming the line
//! (`csv_quotes::tests`, `push_exports::a_quote_left_open_stops_the_push`).

/// Where the scan is within a field.
#[derive(Clone, Copy, PartialEq)]
enum At {
    /// At the start of a field, where a quote opens a quoted value.
    Start,
    /// Inside a value that did not start with a quote: a quote there is a character.
    Plain,
    /// Inside a quoted value.
    Quoted,
    /// Just after a quote inside a quoted value: it closed the value, or a second quote
    /// follows (an escaped quote).
    Closing,
}

/// Checks that every quoted value of `text` is closed, and followed by a delimiter or a line
/// end; answers what is wrong and on which line otherwise.
pub fn check(text: &str, delimiter: u8) -> Result<(), String> {
    let mut at = At::Start;
    let mut line = 1;
    let mut opened = 1;
    for &byte in text.as_bytes() {
        at = match (at, byte) {
            (At::Closing, b'"') => At::Quoted,
            (At::Closing | At::Start | At::Plain, b'\n') => At::Start,
            (At::Closing, b'\r') => At::Plain,
            (At::Closing | At::Start | At::Plain, d) if d == delimiter => At::Start,
            (At::Closing, _) => {
                return Err(format!(
                    "line {line}: text follows the closing quote of a value opened on line \
                     {opened}; a quote inside a quoted value is written twice (\"\")"
                ))
            }
            (At::Start, b'"') => {
                opened = line;
                At::Quoted
            }
            (At::Start | At::Plain, _) => At::Plain,
            (At::Quoted, b'"') => At::Closing,
            (At::Quoted, _) => At::Quoted,
        };
        if byte == b'\n' {
            line += 1;
        }
    }
    if at == At::Quoted {
        return Err(format!(
            "line {opened}: a quoted value opened here is never closed; every row after it \
             would be read as part of it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn well_quoted_files_pass() {
        for text in [
            "a,b\n1,2\n",
            "a,b\r\n\"1\",\"2\"\r\n",
            "a,b\n\"two\nlines\",\"say \"\"hi\"\"\"\n",
            "a,b\n24\" pipe,2\n",
            "a;b\n\"x;y\";2",
            "a,b\n\"\",\n",
        ] {
            assert_eq!(
                check(text, if text.contains(';') { b';' } else { b',' }),
                Ok(()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_quote_left_open_names_its_line() {
        let open = check("id,notes\nQ-5,\"24 inch\nQ-6,fine\n", b',').unwrap_err();
        assert!(
            open.starts_with("line 2: a quoted value opened here is never closed"),
            "{open}"
        );
        let closed_late =
            check("id,notes\nQ-1,\"24 inch\nQ-2,fine\nQ-4,\"end\n", b',').unwrap_err();
        assert!(
            closed_late
                .starts_with("line 4: text follows the closing quote of a value opened on line 2"),
            "{closed_late}"
        );
    }
}
