// Pieces every form shares: a toolbar whose Save is disabled in read-only mode and whose
// Delete asks first, and list actions that follow the user's permissions.
import { CreateButton, DeleteButton, ExportButton, FilterButton, SaveButton, Toolbar, TopToolbar, useCanAccess, useResourceContext } from 'react-admin';
import { useReadOnly } from './readOnly.js';

export const FormToolbar = ({ deletable = true }) => {
  const readOnly = useReadOnly();
  const resource = useResourceContext();
  const { canAccess: canDelete } = useCanAccess({ resource, action: 'delete' });
  return (
    <Toolbar sx={{ display: 'flex', justifyContent: 'space-between' }}>
      <SaveButton disabled={readOnly} />
      {deletable && canDelete && <DeleteButton mutationMode="pessimistic" disabled={readOnly} />}
    </Toolbar>
  );
};

export const ListActions = ({ filters = true }) => {
  const resource = useResourceContext();
  const { canAccess: canCreate } = useCanAccess({ resource, action: 'create' });
  const readOnly = useReadOnly();
  return (
    <TopToolbar>
      {filters && <FilterButton />}
      {canCreate && <CreateButton disabled={readOnly} />}
      <ExportButton />
    </TopToolbar>
  );
};

export function useCanWrite() {
  const resource = useResourceContext();
  return useCanAccess({ resource, action: 'edit' }).canAccess;
}
