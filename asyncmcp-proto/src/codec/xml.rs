/// XML check (stub).
///
/// # Errors
/// Never, for now.
pub fn check_xml_chars(_text: &str) -> Result<(), u32> {
    Ok(())
}
