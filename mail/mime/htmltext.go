package mime

// HTMLText renders an HTML body as text, as Parse does for a mail without
// a text/plain part (Message.TextFromHTML).
func HTMLText(src string) string { return htmlToText(src) }
