export { validateIdentifier, isValidIdentifier, MAX_IDENTIFIER_LENGTH, IDENTIFIER_PATTERN } from './validate';
export { validateLabel, validateLabels, validateTopic, MAX_LABEL_SIZE } from './labels';
export { goQuote } from './goquote';
