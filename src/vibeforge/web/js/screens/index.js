/** Every screen of the client, registered once; each module is loaded when first shown.

To add a screen:
write `screens/NAME.js` exporting `render(container, route)` and register it here. Project
screens also add a tab in `screens/frame.js` (`PROJECT_TABS`).
*/

import { registerScreen } from '../router.js';

registerScreen({ name: 'signin', path: '/signin', public: true, title: 'Sign in',
  load: () => import('./signin.js') });
registerScreen({ name: 'projects', path: '/', title: 'Projects',
  load: () => import('./projects.js') });
registerScreen({ name: 'projects', path: '/projects', title: 'Projects',
  load: () => import('./projects.js') });
registerScreen({ name: 'chat', path: '/p/:project/chat', title: 'Chat',
  load: () => import('./chat.js') });
registerScreen({ name: 'code', path: '/p/:project/code/*', title: 'Code',
  load: () => import('./code.js') });
registerScreen({ name: 'code', path: '/p/:project/code', title: 'Code',
  load: () => import('./code.js') });
registerScreen({ name: 'versions', path: '/p/:project/versions', title: 'Versions',
  load: () => import('./versions.js') });
registerScreen({ name: 'tests', path: '/p/:project/tests', title: 'Tests',
  load: () => import('./tests.js') });
registerScreen({ name: 'project-usage', path: '/p/:project/usage', title: 'Usage',
  load: () => import('./usage.js') });
registerScreen({ name: 'usage', path: '/usage', title: 'Usage',
  load: () => import('./usage.js') });
registerScreen({ name: 'personas', path: '/personas', title: 'Personas',
  load: () => import('./personas.js') });
registerScreen({ name: 'settings', path: '/settings', title: 'Settings',
  load: () => import('./settings.js') });
