// GraphQL errors as react-admin expects them: an HttpError whose message names the request
// id (so an operator can find the log line), and whose body.errors maps a refused field
// (`extensions.field`) to its message, which react-admin shows next to that input.
import { HttpError } from 'react-admin';

export function graphqlError(errors, status) {
  const first = errors[0] ?? { message: 'Unknown error' };
  const ext = first.extensions ?? {};
  const requestId = ext.requestId;
  const message = requestId ? `${first.message} (request id ${requestId})` : first.message;
  const fields = {};
  for (const e of errors) {
    const field = e.extensions?.field;
    if (field && !fields[field]) {
      const id = e.extensions?.requestId;
      fields[field] = id ? `${e.message} (request id ${id})` : e.message;
    }
  }
  const error = new HttpError(message, status || httpStatus(ext.code), {
    code: ext.code,
    requestId,
    errors: Object.keys(fields).length ? fields : undefined,
  });
  error.code = ext.code;
  return error;
}

function httpStatus(code) {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'READ_ONLY_MODE':
    case 'SERVICE_UNAVAILABLE':
      return 503;
    default:
      return 400;
  }
}

/** The GraphQL errors inside whatever Apollo threw. */
export function fromApollo(error) {
  // ra-data-graphql wraps Apollo's error in an HttpError whose body is the ApolloError.
  if (error instanceof HttpError && error.body?.graphQLErrors?.length) error = error.body;
  else if (error instanceof HttpError) return error;
  const errors = error?.graphQLErrors?.length
    ? error.graphQLErrors
    : error?.networkError?.result?.errors ?? [{ message: error?.message ?? String(error) }];
  return graphqlError(errors, error?.networkError?.statusCode);
}
