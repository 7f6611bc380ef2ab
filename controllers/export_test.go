package controllers

// DropUserSubject is dropUserSubject, for the tests against a real API
// server in package controllers_test.
var DropUserSubject = dropUserSubject
