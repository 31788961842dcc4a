// Package redact removes payment data and admin-configured patterns from
// mail text before it is stored (GDPR Art. 5(1)(c) and 25: data
// minimisation by design; PCI DSS 3.3: no card number where it is not
// needed).
//
// A Redactor replaces, in this order:
//
//  1. IBANs (ISO 13616): two letters of a country code, two check digits
//     and the BBAN, upper or lower case, written as one run or in groups
//     separated by single spaces, whose mod-97 value (ISO 7064) is 1. For
//     the countries in ibanLength (SEPA and more) the length must be that
//     country's; for others it is 15 to 34 characters. They become
//     "[redacted: IBAN]".
//  2. Payment card numbers: 13 to 19 digits, in one run or in groups
//     separated by single spaces, dashes or no-break spaces, that pass the
//     Luhn check and start with 2 to 6 (the major industry identifiers of
//     the card networks: Mastercard 2 and 5, Amex, Diners and JCB 3, Visa
//     4, Maestro 5 and 6, Discover 6). Written in groups, the first group
//     has four digits and the others three to six (4-4-4-4, Amex 4-6-5,
//     4-4-4-4-3). A run after a "+" is a phone number. The run must stand alone: a letter,
//     digit, "_" or "@" right before or after it, or a "." or "," between
//     it and another digit, makes it part of a longer token (an order code,
//     a Message-ID, a decimal), which stays. Groups of a longer run of
//     groups are tried too (the longest Luhn-valid window of groups
//     wins), so a card written after a digit group is still found. They
//     become "[redacted: card number]".
//  3. Each Rule (config [[redact]]), in order: its regular expression (Go
//     RE2 syntax, linear time), each match replaced by Replacement
//     literally (no $1 expansion), default "[redacted: NAME]".
//
// Counts says how many of each kind were replaced, by name ("card
// number", "IBAN", the rule's name); never the value.
//
// Cost: every step is linear in the length of the text. A text with fewer
// than 13 digits skips the card scan, one with fewer than 2 digits the IBAN
// scan (BenchmarkRedact).
//
// Phone numbers (+49 30 1234567, 0049 ...: they start with "+" or "0"),
// dates, order and ticket numbers of fewer than 13 digits, Luhn-invalid
// digit runs and IBAN-shaped strings with a wrong check stay untouched
// (testdata/corpus.txt).
package redact
