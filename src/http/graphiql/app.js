// adminql's GraphiQL page: a sign-in bar that keeps the access token in sessionStorage and
// sends it as a Bearer header on every request the IDE makes.
(function () {
  'use strict';
  var TOKEN_KEY = 'adminql.token';
  var statusEl = document.getElementById('status');
  var signout = document.getElementById('signout');

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function showState(email) {
    var signedIn = !!token();
    statusEl.textContent = signedIn ? 'Signed in' + (email ? ' as ' + email : '') : 'Not signed in';
    signout.hidden = !signedIn;
  }

  function fetcher(params) {
    var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    if (token()) headers.Authorization = 'Bearer ' + token();
    return fetch('/graphql', { method: 'POST', headers: headers, body: JSON.stringify(params), credentials: 'same-origin' })
      .then(function (r) { return r.json(); });
  }

  document.getElementById('signin').addEventListener('submit', function (event) {
    event.preventDefault();
    var email = document.getElementById('email').value;
    var password = document.getElementById('password').value;
    statusEl.textContent = 'Signing in…';
    fetcher({
      query: 'mutation SignIn($email: String!, $password: String!) { login(email: $email, password: $password) { token user { email } } }',
      variables: { email: email, password: password }
    }).then(function (result) {
      if (result.errors && result.errors.length) {
        statusEl.textContent = 'Sign-in failed: ' + result.errors[0].message;
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, result.data.login.token);
      document.getElementById('password').value = '';
      showState(result.data.login.user.email);
      render();
    }).catch(function (error) { statusEl.textContent = 'Sign-in failed: ' + error; });
  });

  signout.addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    showState();
    render();
  });

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var generation = 0;
  function render() {
    // A new key remounts GraphiQL so the schema is fetched again with the new credentials.
    generation += 1;
    root.render(React.createElement(GraphiQL, {
      key: generation,
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: '# Sign in above, then try:\nquery {\n  me { id email roles { name } }\n  allUsers(perPage: 5, sortField: "email") { id email name active }\n  _allUsersMeta { count }\n}\n'
    }));
  }
  showState();
  render();
})();
