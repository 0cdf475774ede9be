// Package smtptest is a test-only SMTP server used as a sink: it speaks
// enough of SMTP (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT) over a real TCP listener for a real client to deliver mail, and
// keeps each message. It imports no internal package.
package smtptest
